"""The body of ``triage case``: run the case with a progress display on stderr, print the outcome, exit code.

No click here (cli.py owns the command line); rich is only used for the examiner's terminal. Library errors
(TriageError) propagate to the caller, which turns them into one line and an exit code. Every device name, path
and reason is printed through ``terminal_safe``: they come from the evidence (escape sequences, rich markup).
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from triage.case.runner import CaseEvent, CaseResult, CaseSettings, run_case
from triage.defaults import PDQ_MIN_QUALITY, PDQ_THRESHOLD, PHASH_THRESHOLD
from triage.textsafe import from_json_safe
from triage.textsafe import terminal_safe as safe


class CaseProgressView:
    """One overall bar (devices) and one bar per running device (bytes read, files, matches)."""

    def __init__(self, console: Console) -> None:
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


def run_case_command(case_dir: Path, out: Path, hashsets: list[str], jobs: int = 0, scheduler: str | None = None,
                     pdq_threshold: int = PDQ_THRESHOLD, phash_threshold: int = PHASH_THRESHOLD,
                     pdq_quality: int = PDQ_MIN_QUALITY, verify: bool = True,
                     command: list[str] | None = None, console: Console | None = None) -> int:
    """Run ``triage case`` and return its exit code: 0 all done, 5 some devices failed, 4 interrupted."""
    err = console or Console(stderr=True, highlight=False)
    settings = CaseSettings(hashsets=list(hashsets), pdq_threshold=pdq_threshold, phash_threshold=phash_threshold,
                            pdq_min_quality=pdq_quality, verify=verify, command=list(command or []))
    with CaseProgressView(err) as view:
        result = run_case(case_dir, out, settings, jobs=jobs, scheduler=scheduler, progress=view)
    print_case(result, err)
    return result.exit_code


def print_case(result: CaseResult, err: Console) -> None:
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
