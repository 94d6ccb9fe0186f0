"""What the examiner sees on stderr: progress bars and end-of-run tables for ``scan`` and ``case``.

Part of the command line (``triage.cli``), the only place that knows the terminal; the scan and the case runner
only emit events and return data. Every text from the evidence (device names, paths, reasons, file-system
descriptions) goes through ``terminal_safe``: it may hold escape sequences or rich markup.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from triage.model.record import FileRecord
from triage.report.common import where_text
from triage.report.verdict import category_order, category_words, locked_count, verdict
from triage.textsafe import from_json_safe, terminal_safe
from triage.textsafe import terminal_safe as safe

if TYPE_CHECKING:  # the case runner is imported only by ``triage case``
    from triage.case.runner import CaseEvent, CaseResult

err = Console(stderr=True, highlight=False)


class ScanProgress:
    """A rich progress bar on stderr: bytes read, files done, ETA, matches so far."""

    def __init__(self, name: str, first_hit: bool = False) -> None:
        self.name = terminal_safe(name)  # shown through a markup column: escaped once here
        self.first_hit = first_hit  # --first-hit: the answer is printed the moment it is known
        self.hit_shown = False
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
            TextColumn("{task.fields[files]} files"), TextColumn("[red]{task.fields[hits]} matched"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=err, transient=False,
            disable=not err.is_terminal,
        )
        self.task: TaskID | None = None
        self.files = 0
        self.hits = 0
        self.unshown = 0  # bytes done since the bar was last updated

    def __enter__(self) -> ScanProgress:
        self.progress.start()
        self.task = self.progress.add_task(f"listing {self.name}", total=None, files=0, hits=0)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.task is not None and self.unshown:
            self._show()
        self.progress.stop()

    def update(self, event: str, record: FileRecord | None, amount: int) -> None:
        assert self.task is not None
        if event == "start":
            self.progress.update(self.task, description=self.name, total=amount, advance=self.unshown)
            self.unshown = 0
            return
        self.files += 1
        self.unshown += amount
        if record is not None and record.matches:
            self.hits += 1
            if self.first_hit and not self.hit_shown:
                self.hit_shown = True
                self.progress.console.print(first_hit_line(record.path, record.matches[0], early=True),
                                            soft_wrap=True, highlight=False)
        elif self.files % 256:
            return  # the bar is redrawn a few times a second anyway; updating it per file cost ~4 us a file
        self._show()

    def _show(self) -> None:
        assert self.task is not None
        self.progress.update(self.task, advance=self.unshown, files=self.files, hits=self.hits)
        self.unshown = 0


def first_hit_line(path: str, m: dict[str, Any], early: bool = False) -> str:
    """The --first-hit answer: where, which set and algorithm, how close, the category in words."""
    return (f"[bold red]FIRST HIT[/] {terminal_safe(path)} — {terminal_safe(m['hashset'])} "
            f"{terminal_safe(m['algorithm'])} distance {m['distance']} "
            + (f"({terminal_safe(m['transform'])}) " if m.get("transform") else "")
            + f"{terminal_safe(category_words(m['category'], [m['label']] if m.get('label') else []))}"
            + (" (stopping the scan; writing what was found)" if early else " (scan stopped early)"))


def print_summary(summary: dict[str, Any], target: Path) -> None:
    """The short end-of-scan table for the examiner; every text from the evidence goes through terminal_safe."""
    ev = summary["evidence"]
    safe = terminal_safe
    name = Path(from_json_safe(ev["paths"][0])).name  # summary.json keeps paths json_safe
    table = Table(title=f"{safe(name)} — {safe(ev['format'])}, {ev['media_size']:,} bytes", title_justify="left")
    for col in ("volume", "offset", "description", "file system", "streams", "errors"):
        table.add_column(col, justify="right" if col in ("offset", "streams") else "left")
    for vol in summary["volumes"]:
        if vol["role"] != "partition":
            continue
        errors = "; ".join(safe(e) for e in vol["errors"]) if vol["errors"] else ""
        table.add_row(str(vol["index"] if vol["index"] is not None else "-"), f"{vol['offset']:,}",
                      safe(vol["description"]), safe(vol["fs"]) if vol["fs"] else "[yellow]none[/]",
                      str(vol["files"]), errors)
    err.print(table)
    from triage.report.common import layer_lines

    for attention, text in layer_lines(summary):
        err.print(f"[bold red]{safe(text)}[/]" if attention else safe(text), soft_wrap=True, highlight=False)
    verification = ev.get("verification", "not recorded")
    style = {"verified": "green", "mismatch": "bold red"}.get(verification, "yellow")
    err.print(f"media verification: [{style}]{safe(verification)}[/]"
              + (f" ({safe(ev['verification_error'])})" if ev.get("verification_error") else ""), soft_wrap=True)
    for problem in summary.get("errors", []):
        err.print(f"[yellow]volume problem:[/] {safe(problem)}", soft_wrap=True, highlight=False)
    c = summary["counts"]
    line = (f"files {c['files']:,}  deleted {c['deleted']:,}  pictures {c['pictures']:,}  videos {c['videos']:,}"
            f"  errors {c['errors']:,}  matched [bold red]{c['matched']:,}[/]")
    err.print(line)
    labels = summary.get("category_labels") or {}
    for category, count in sorted(summary.get("matches_by_category", {}).items(), key=lambda kv: category_order(kv[0])):
        err.print(f"  {safe(category_words(category, labels.get(category, ())))}: {count}")
    where = summary.get("matches_by_origin") or {}
    if set(where) - {"filesystem"}:
        for key, count in where.items():
            err.print(f"  {safe(where_text(key))}: {count}")
    hot = bool(c["matched"]) or locked_count(summary) > 0
    err.print(f"[bold {'red' if hot else 'green'}]verdict:[/] {safe(verdict(summary))}", soft_wrap=True,
              highlight=False)
    err.print(f"output: {safe(target)}", soft_wrap=True)


STATE_STYLE = {"queued": "dim", "starting": "cyan", "listing": "cyan", "reading": "bold", "done": "green",
               "quick": "bold red", "failed": "bold red", "interrupted": "yellow"}


class CaseProgressView:
    """One live display for the case: an overall row (devices finished, bytes, ETA) and one row per device.

    The overall bar counts evidence bytes: each device weighs its evidence size (known before it is opened) and
    is as far along as its own bytes read of the bytes listed on it, so the ETA is from bytes, not devices. A
    device stopped at its first match (``--quick``) or failed counts as finished. With at most
    ``CASE_PROGRESS_ROWS`` devices to scan every one has a row from the start (queued, listing, reading, done,
    first hit, failed); with more, a row appears while its device is scanned.
    """

    def __init__(self, console: Console = err) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), TextColumn("{task.fields[state]}"), BarColumn(),
            TextColumn("{task.fields[amount]}"), TextColumn("{task.fields[files]}"),
            TextColumn("[red]{task.fields[hits]}"), TimeElapsedColumn(), TimeRemainingColumn(), console=console,
            transient=False, disable=not console.is_terminal)
        self.overall: TaskID | None = None
        self.tasks: dict[str, TaskID] = {}
        self.weight: dict[str, int] = {}  # evidence bytes per device to scan
        self.fraction: dict[str, float] = {}  # how far each device is, 0..1
        self.listed: dict[str, int] = {}  # bytes of the streams listed on each device
        self.total = self.finished = 0
        self.all_rows = False

    def __enter__(self) -> CaseProgressView:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def _row(self, name: str, state: str) -> TaskID:
        if name not in self.tasks:
            self.tasks[name] = self.progress.add_task(safe(name), total=1, start=False, files="", hits="",
                                                      amount="", state=_state(state))
        return self.tasks[name]

    def _overall(self) -> None:
        if self.overall is None:
            return
        done = sum(self.weight.get(name, 0) * part for name, part in self.fraction.items())
        total = max(1, sum(self.weight.values()))
        self.progress.update(self.overall, completed=done, amount=_amount(int(done), total),
                             state=f"{self.finished}/{self.total} devices")

    def __call__(self, event: CaseEvent) -> None:
        p = self.progress
        name = event.device or ""
        if event.kind == "plan":
            from triage.defaults import CASE_PROGRESS_ROWS

            self.total = event.devices_total
            self.all_rows = 0 < event.devices_total <= CASE_PROGRESS_ROWS
            label = f"case ({event.reused} done earlier)" if event.reused else "case"
            self.overall = p.add_task(label, total=max(1, event.total_bytes), files="", hits="",
                                      amount=_amount(0, event.total_bytes), state=f"0/{event.devices_total} devices")
            if not event.devices_total:
                p.update(self.overall, completed=max(1, event.total_bytes))
        elif event.kind == "queued":
            self.weight[name] = max(1, event.total_bytes)
            self.fraction[name] = 0.0
            if self.all_rows:
                self._row(name, "queued")
        elif event.kind == "reused":
            self.console.print(f"[green]done earlier[/] {safe(event.device)}", highlight=False, soft_wrap=True)
        elif event.kind == "start" and event.device:
            where = f" on {safe(event.host)}" if event.host else ""
            task = self._row(name, "listing")
            p.update(task, state=_state("listing") + where)
            p.start_task(task)
        elif event.kind == "listed" and name in self.tasks:
            self.listed[name] = event.total_bytes
            p.update(self.tasks[name], total=max(1, event.total_bytes), completed=0, state=_state("reading"),
                     amount=_amount(0, event.total_bytes))
        elif event.kind == "advance" and name in self.tasks:
            p.update(self.tasks[name], completed=event.bytes_done, files=f"{event.files:,} files",
                     hits=f"{event.matched:,} matched" if event.matched else "",
                     amount=_amount(event.bytes_done, self.listed.get(name, 0)))
            if self.listed.get(name):
                self.fraction[name] = min(1.0, event.bytes_done / self.listed[name])
            self._overall()
        elif event.kind in ("done", "quick", "failed", "interrupted"):
            self._ended(event)

    def _ended(self, event: CaseEvent) -> None:
        name = event.device or ""
        self.finished = event.devices_finished or self.finished + 1
        self.fraction[name] = 1.0 if event.kind != "interrupted" else self.fraction.get(name, 0.0)
        state = "first hit" if event.kind == "quick" else event.kind
        if event.kind == "quick" and event.first_hit_after is not None:
            state += f" after {event.first_hit_after:.1f} s"
        task = self.tasks.get(name)
        if task is not None:
            if self.all_rows:
                changes: dict[str, Any] = {"state": _state(event.kind, state)}
                if event.kind == "done":
                    listed = self.listed.get(name, 0)
                    changes.update(total=max(1, listed), completed=max(1, listed), amount=_amount(listed, listed))
                self.progress.update(task, **changes)
                self.progress.stop_task(task)
            else:
                self.progress.remove_task(self.tasks.pop(name))
        self._overall()
        where = f" on {safe(event.host)}" if event.host else ""
        why = f": {safe(event.reason)}" if event.reason else ""
        self.console.print(f"{_state(event.kind, state)} {safe(event.device)}{where}{why}", highlight=False,
                           soft_wrap=True)


def _state(kind: str, text: str | None = None) -> str:
    """A device's state as rich markup, coloured by kind (the text itself is ours, never from the evidence)."""
    return f"[{STATE_STYLE.get(kind, '')}]{text or kind}[/]"


def _amount(done: int, total: int) -> str:
    """'1.2/4.0 GB' (decimal units, as rich's download column)."""
    from rich.filesize import decimal

    return f"{decimal(done)}/{decimal(total)}" if total else ""


def print_case(result: CaseResult) -> None:
    """The end-of-run table in examination order: rank, device, why it is there, where its report is."""
    from triage.case.rank import RULE

    table = Table(title=f"case {safe(result.discovery.root)}: devices in examination order", title_justify="left")
    for col in ("#", "device", "status", "why here", "evidence", "files", "report"):
        table.add_column(col, justify="right" if col in ("#", "files") else "left",
                         overflow="fold", ratio=3 if col == "why here" else None)
    for d in result.devices:
        counts = d.get("counts") or {}
        status = {"done": "[green]done[/]", "failed": "[bold red]failed[/]",
                  "quick": "[bold red]first hit[/]"}.get(d["status"], safe(d["status"]))
        if d["name"] in result.reused:
            status += " (earlier)"
        why = safe(d.get("why") or "")
        if d.get("tier") in (1, 3):
            why = f"[bold red]{why}[/]"
        report = d.get("links", {}).get("report")
        relpath = safe(from_json_safe((d.get("evidence") or {}).get("relpath") or ""))
        table.add_row(str(d.get("rank", "")), safe(d["name"]), status, why, relpath, str(counts.get("files", "-")),
                      safe(unquote(report, errors="surrogateescape")) if report else "-")
    err.print(table)
    err.print(f"reports are under {safe(result.out_root)}", soft_wrap=True, highlight=False)
    err.print(safe(RULE), soft_wrap=False, highlight=False, style="dim")
    for name, reason in result.failed.items():
        err.print(f"[bold red]failed[/] {safe(name)}: {safe(from_json_safe(reason))}", soft_wrap=True, highlight=False)
    if result.quick:
        err.print(f"[bold red]stopped at the first match[/] (quick): {', '.join(safe(n) for n in result.quick)}; "
                  "run again without --quick to read them fully", soft_wrap=True, highlight=False)
    skipped = result.discovery.skipped
    if skipped:
        err.print(f"not taken as evidence: {len(skipped)} (listed in case.json)")
        for s in skipped:
            if s.error:
                err.print(f"[bold red]could not examine[/] {safe(s.path)}: {safe(s.reason)}", soft_wrap=True,
                          highlight=False)
    err.print(f"case summary: {safe(result.case_json)}  {safe(result.case_html)}", highlight=False, soft_wrap=True)
