"""What the examiner sees on stderr: progress bars and end-of-run tables for ``scan`` and ``case``.

Part of the command line (``triage.cli``), the only place that knows the terminal; the scan and the case runner
only emit events and return data. Every text from the evidence (device names, paths, reasons, file-system
descriptions) goes through ``terminal_safe``: it may hold escape sequences or rich markup.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from triage.textsafe import from_json_safe, terminal_safe
from triage.textsafe import terminal_safe as safe

if TYPE_CHECKING:  # the case runner is imported only by ``triage case``
    from triage.case.runner import CaseEvent, CaseResult

err = Console(stderr=True, highlight=False)


class ScanProgress:
    """A rich progress bar on stderr: bytes read, files done, ETA, matches so far."""

    def __init__(self, name: str) -> None:
        self.name = terminal_safe(name)  # shown through a markup column: escaped once here
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
            TextColumn("{task.fields[files]} files"), TextColumn("[red]{task.fields[hits]} matched"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=err, transient=False,
            disable=not err.is_terminal,
        )
        self.task: TaskID | None = None
        self.files = 0
        self.hits = 0

    def __enter__(self) -> ScanProgress:
        self.progress.start()
        self.task = self.progress.add_task(f"listing {self.name}", total=None, files=0, hits=0)
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def update(self, event: str, record: FileRecord | None, amount: int) -> None:
        assert self.task is not None
        if event == "start":
            self.progress.update(self.task, description=self.name, total=amount, completed=0)
            return
        self.files += 1
        if record is not None and record.matches:
            self.hits += 1
        self.progress.update(self.task, advance=amount, files=self.files, hits=self.hits)


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
    for category, count in summary.get("matches_by_category", {}).items():
        err.print(f"  category {safe(category)}: {count}")
    where = summary.get("matches_by_origin") or {}
    if set(where) - {"filesystem"}:
        for key, count in where.items():
            err.print(f"  {safe(where_text(key))}: {count}")
    err.print(f"output: {safe(target)}", soft_wrap=True)


class CaseProgressView:
    """One overall bar (devices) and one bar per running device (bytes read, files, matches)."""

    def __init__(self, console: Console = err) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
            TextColumn("{task.fields[files]} files"), TextColumn("[red]{task.fields[hits]} matched"),
            TimeElapsedColumn(), console=console, transient=False, disable=not console.is_terminal)
        self.overall: TaskID | None = None
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> CaseProgressView:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, event: CaseEvent) -> None:
        p = self.progress
        if event.kind == "plan":
            self.overall = p.add_task(f"case: {event.devices_total} to scan, {event.reused} already done",
                                      total=event.devices_total or 1, files="", hits="")
            if not event.devices_total:
                p.update(self.overall, completed=1)
        elif event.kind == "reused":
            self.console.print(f"[green]done earlier[/] {safe(event.device)}", highlight=False, soft_wrap=True)
        elif event.kind == "start" and event.device:
            self.tasks[event.device] = p.add_task(safe(event.device), total=None, files=0, hits=0)
        elif event.kind == "listed" and event.device in self.tasks:
            p.update(self.tasks[event.device], total=event.total_bytes, completed=0)
        elif event.kind == "advance" and event.device in self.tasks:
            p.update(self.tasks[event.device], completed=event.bytes_done, files=event.files, hits=event.matched)
        elif event.kind in ("done", "failed", "interrupted"):
            task = self.tasks.pop(event.device or "", None)
            if task is not None:
                p.remove_task(task)
            if self.overall is not None:
                p.update(self.overall, completed=event.devices_finished)
            style = {"done": "green", "failed": "bold red", "interrupted": "yellow"}[event.kind]
            where = f" on {safe(event.host)}" if event.host else ""
            why = f": {safe(event.reason)}" if event.reason else ""
            self.console.print(f"[{style}]{event.kind}[/] {safe(event.device)}{where}{why}", highlight=False,
                               soft_wrap=True)


def print_case(result: CaseResult) -> None:
    """The end-of-run table: one row per device, then what was skipped and where the reports are."""
    table = Table(title=f"case {safe(result.discovery.root)}", title_justify="left")
    for col in ("device", "status", "evidence", "verification", "files", "matched", "by category"):
        table.add_column(col, justify="right" if col in ("files", "matched") else "left")
    for d in result.devices:
        counts = d.get("counts") or {}
        cats = ", ".join(f"{safe(k)}: {v}" for k, v in (d.get("matches_by_category") or {}).items())
        status = {"done": "[green]done[/]", "failed": "[bold red]failed[/]"}.get(d["status"], d["status"])
        if d["name"] in result.reused:
            status += " (earlier)"
        table.add_row(safe(d["name"]), status, safe(from_json_safe(d["relpath"])), safe(d.get("verification") or "-"),
                      str(counts.get("files", "-")),
                      str(counts.get("matched", "-")), cats)
    err.print(table)
    for name, reason in result.failed.items():
        err.print(f"[bold red]failed[/] {safe(name)}: {safe(from_json_safe(reason))}", soft_wrap=True, highlight=False)
    skipped = result.discovery.skipped
    if skipped:
        err.print(f"not taken as evidence: {len(skipped)} (listed in case.json)")
        for s in skipped:
            if s.error:
                err.print(f"[bold red]could not examine[/] {safe(s.path)}: {safe(s.reason)}", soft_wrap=True,
                          highlight=False)
    err.print(f"case summary: {safe(result.case_json)}  {safe(result.case_html)}", highlight=False, soft_wrap=True)
