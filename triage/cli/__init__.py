"""The command line: the only place that knows about click, exit codes and the terminal (``views``).

People read stderr (rich progress and tables); machines read the files written under ``--out``. Every
``TriageError`` becomes one line on stderr and its exit code; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from triage import __version__
from triage.cli.views import ScanProgress, err, first_hit_line, print_summary
from triage.defaults import PDQ_MIN_QUALITY, PDQ_THRESHOLD, PHASH_THRESHOLD
from triage.errors import Interrupted, OutputError, TriageError, UsageError, one_line
from triage.textsafe import from_json_safe, terminal_safe

EXIT_OK, EXIT_USAGE, EXIT_EVIDENCE, EXIT_INTERRUPTED = 0, 2, 3, 4
EXIT_SOME_FAILED = 5  # triage case: a device failed, or a file or folder of the case could not be examined
EXIT_OUTPUT = 6  # OutputError: output folder full or not writable


def run_guarded(debug: bool, action: Callable[[], int]) -> None:
    """Run a command body; turn our errors into one line and an exit code, never a traceback."""
    debug = debug or _group_debug()
    try:
        code = action()
    except TriageError as exc:
        if debug:
            traceback.print_exc()
        err.print(f"[bold red]triage: error:[/] {terminal_safe(one_line(exc))}", soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("[bold red]triage: interrupted[/]")
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:  # a bug: still one line unless --debug
        if debug:
            traceback.print_exc()
        err.print(f"[bold red]triage: internal error:[/] {terminal_safe(one_line(exc, typed=True))} "
                  "(run with --debug for details)", soft_wrap=True)
        sys.exit(1)
    sys.exit(code)


def _group_debug() -> bool:
    """``triage --debug COMMAND``: the group's flag, so that it need not be repeated after every command."""
    context = click.get_current_context(silent=True)
    return bool(context and context.find_root().params.get("debug"))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="triage")
@click.option("--debug", is_flag=True, help="Show tracebacks (for every command; each command also takes it).")
def main(debug: bool) -> None:
    """triage: which seized device holds known material? Hash, match and summarise disk images."""


def _load_hashsets(specs: tuple[str, ...], pdq: int, phash: int, pdq_quality: int) -> Any:
    if not specs:
        return None
    from triage.known import HashSets

    return HashSets.load(list(specs), pdq_threshold=pdq, phash_threshold=phash, pdq_min_quality=pdq_quality)


def hashset_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by scan and case: hash sets and perceptual thresholds."""
    func = click.option("--pdq-quality", default=PDQ_MIN_QUALITY, show_default=True, type=click.IntRange(0, 100),
                        help="Minimum PDQ quality for a picture to be matched by PDQ.")(func)
    func = click.option("--phash-threshold", default=PHASH_THRESHOLD, show_default=True, type=click.IntRange(0, 64),
                        help="Maximum pHash Hamming distance for a match.")(func)
    func = click.option("--pdq-threshold", default=PDQ_THRESHOLD, show_default=True, type=click.IntRange(0, 256),
                        help="Maximum PDQ Hamming distance for a match.")(func)
    func = click.option("-H", "--hashset", "hashsets", multiple=True, metavar="[alert:|known:]PATH",
                        help="Hash set to match against (repeatable).")(func)
    return func


def secret_options(command: Any) -> Any:
    """--password, --recovery-key and --startup-key, shared by scan and case."""
    command = click.option("--startup-key", "startup_keys", multiple=True, metavar="FILE.BEK",
                           type=click.Path(path_type=Path, dir_okay=False),
                           help="BitLocker startup key file; repeatable.")(command)
    command = click.option("--recovery-key", "recovery_keys", multiple=True, metavar="KEY",
                           help="BitLocker/FileVault recovery key, or the path of a BitLocker .BEK startup key "
                                "file; repeatable.")(command)
    return click.option("--password", "passwords", multiple=True, metavar="TEXT",
                        help="Password tried on every encrypted volume (BitLocker, LUKS, FileVault, APFS); "
                             "repeatable.")(command)


@main.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path, readable=False))
@hashset_options
@click.option("-o", "--out", "out", default=Path("triage-out"), show_default=True,
              type=click.Path(path_type=Path, file_okay=False), help="Output folder.")
@click.option("-j", "--jobs", default=0, type=click.IntRange(0, 256),
              help="Worker processes (default: number of cores).")
@click.option("--no-verify", is_flag=True, help="Do not hash the whole media to verify an E01's stored hash.")
@click.option("--first-hit", is_flag=True, help="Stop at the first alert match and report it (on-scene check).")
@click.option("--pictures-first", is_flag=True,
              help="Read likely pictures, then likely videos (by extension), before other files.")
@click.option("--no-carve", is_flag=True,
              help="Do not carve pictures and videos from unallocated space and the space outside partitions.")
@secret_options
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def scan(images: tuple[Path, ...], hashsets: tuple[str, ...], pdq_threshold: int, phash_threshold: int,
         pdq_quality: int, out: Path, jobs: int, no_verify: bool, first_hit: bool, pictures_first: bool,
         no_carve: bool, passwords: tuple[str, ...], recovery_keys: tuple[str, ...], startup_keys: tuple[Path, ...],
         debug: bool) -> None:
    """Scan device images (IMAGE is the first file of a set: x.E01, x.001, x.vmdk…)."""

    def body() -> int:
        _hold_secrets(passwords, recovery_keys, startup_keys)
        n_jobs = jobs or os.cpu_count() or 1
        if n_jobs > 1:
            from triage.reading import workers

            workers.start_early()  # the worker server's imports overlap ours
        from triage.scan import ScanSettings, scan_device

        _refuse_out_inside(out, images)
        sets = _load_hashsets(hashsets, pdq_threshold, phash_threshold, pdq_quality)
        for described in sets.describe() if sets else []:
            if described.get("warnings"):
                err.print(f"[yellow]hash set {described['name']}: {described['warnings']} malformed line(s) "
                          "skipped[/] (see: triage hashset info)")
        if first_hit and sets is None:
            raise UsageError("--first-hit needs at least one hash set (-H)")
        settings = ScanSettings(hashsets=sets, jobs=n_jobs, verify=not no_verify,
                                first_hit=first_hit, pictures_first=pictures_first, carve=not no_carve,
                                command=["triage", *masked_command(sys.argv[1:])])
        worst = EXIT_OK
        for number, image in enumerate(images):
            with ScanProgress(image.name, first_hit) as bar:
                try:
                    target, summary = scan_device(image, out, settings, progress=bar.update, replaced=_replaced)
                except Interrupted:
                    raise
                except OutputError as exc:  # full or read-only: every further device would fail the same way
                    rest = images[number + 1:]
                    if rest:
                        raise OutputError(f"{exc}; not scanned: {', '.join(str(p) for p in rest)}") from exc
                    raise
                except TriageError as exc:
                    if len(images) == 1:
                        raise
                    err.print(f"[bold red]triage: error:[/] {terminal_safe(one_line(exc))}", soft_wrap=True)
                    worst = max(worst, exc.exit_code)
                    continue
            print_summary(summary, target)
            if summary.get("stopped") == "first hit" and not bar.hit_shown:
                hit = next(r for r in _read_jsonl(target / "files.jsonl") if r["matches"])
                err.print(first_hit_line(from_json_safe(hit["path"]), hit["matches"][0]), soft_wrap=True,
                          highlight=False)
        return worst

    run_guarded(debug, body)


SECRET_OPTIONS = ("--password", "--recovery-key")


def masked_command(argv: list[str]) -> list[str]:
    """The command line as recorded in summary.json: every password and recovery key replaced by "[secret]"."""
    out, hide = [], False
    for arg in argv:
        if hide:
            out.append("[secret]")
            hide = False
        elif arg in SECRET_OPTIONS:
            out.append(arg)
            hide = True
        elif arg.startswith(tuple(f"{option}=" for option in SECRET_OPTIONS)):
            out.append(arg.split("=", 1)[0] + "=[secret]")
        else:
            out.append(arg)
    return out


def _hold_secrets(passwords: tuple[str, ...], recovery_keys: tuple[str, ...], startup_keys: tuple[Path, ...]) -> None:
    """Keep the secrets in this process for the encrypted layers; a recovery key naming a .BEK file is a startup key.

    Why refuse a missing .BEK file here: a typo would otherwise surface only as "locked" in the summary.
    """
    from triage.sources.volumes.secrets import Secrets, hold

    keys, files = [], [str(p) for p in startup_keys]
    for key in recovery_keys:
        if key.lower().endswith(".bek") and Path(key).is_file():
            files.append(key)
        else:
            keys.append(key)
    for path in files:
        if not Path(path).is_file():
            raise UsageError(f"startup key file {path}: not found")
    hold(Secrets(tuple(passwords), tuple(keys), tuple(files)))


def _replaced(folder: Path) -> None:
    """Say that a re-scan replaced the earlier results of the same evidence (never another evidence's)."""
    err.print(f"replaced earlier results of the same evidence in {terminal_safe(folder)}", soft_wrap=True)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    import json

    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def _refuse_out_inside(out: Path, evidence: tuple[Path, ...]) -> None:
    """Refuse an output folder inside an evidence folder: evidence is never written beside or into.

    Python 3.11's ``Path.resolve`` raises RuntimeError on a symlink loop (3.13 OSError): a looping output path
    is a usage error; a looping evidence path cannot hold the output and is refused per image, with exit 3, by
    ``check_readable``.
    """
    try:
        resolved = out.resolve()
    except (OSError, RuntimeError):
        raise UsageError(f"output folder {out}: symlink loop or unresolvable path") from None
    for item in evidence:
        try:
            item_resolved = item.resolve()
        except (OSError, RuntimeError):
            continue
        if item.is_dir() and (resolved == item_resolved or item_resolved in resolved.parents):
            raise UsageError(f"output folder {out} is inside the evidence folder {item}")
        if resolved == item_resolved:
            raise UsageError(f"output folder {out} is the evidence file itself")


@main.command()
@click.argument("case_dir", type=click.Path(path_type=Path, file_okay=False))
@hashset_options
@click.option("-o", "--out", "out", default=Path("triage-out"), show_default=True,
              type=click.Path(path_type=Path, file_okay=False), help="Output folder (holds case.sqlite).")
@click.option("-j", "--jobs", default=0, type=click.IntRange(0, 256),
              help="Devices scanned at once (default: number of cores).")
@click.option("--scheduler", metavar="tcp://HOST:PORT",
              help="Run devices on this Dask distributed scheduler (workers must see evidence and output).")
@click.option("--no-verify", is_flag=True, help="Do not hash whole media to verify stored E01 hashes.")
@click.option("--quick", is_flag=True,
              help="Rank the case fast: each device reads pictures and videos first and stops at its first match "
                   "(a later run without --quick reads those devices fully).")
@secret_options
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def case(case_dir: Path, hashsets: tuple[str, ...], pdq_threshold: int, phash_threshold: int, pdq_quality: int,
         out: Path, jobs: int, scheduler: str | None, no_verify: bool, quick: bool, passwords: tuple[str, ...],
         recovery_keys: tuple[str, ...], startup_keys: tuple[Path, ...], debug: bool) -> None:
    """Scan every device in a case folder, resumably, and rank them for examination (exit 5: some devices failed)."""

    def body() -> int:
        from triage.case.runner import CaseSettings, run_case
        from triage.cli.views import CaseProgressView, print_case

        if quick and not hashsets:
            raise UsageError("--quick needs at least one hash set (-H): it stops each device at its first match")
        if scheduler and (passwords or recovery_keys or startup_keys):
            raise UsageError("secrets are never sent to a Dask cluster: run the case without --scheduler, or scan "
                             "the locked device with triage scan --password")
        _hold_secrets(passwords, recovery_keys, startup_keys)  # local workers get them from their initializer
        _load_hashsets(hashsets, pdq_threshold, phash_threshold, pdq_quality)  # fail early on a bad set
        settings = CaseSettings(hashsets=list(hashsets), pdq_threshold=pdq_threshold, phash_threshold=phash_threshold,
                                pdq_min_quality=pdq_quality, verify=not no_verify,
                                command=["triage", *masked_command(sys.argv[1:])],
                                quick=quick)
        with CaseProgressView() as view:
            result = run_case(case_dir, out, settings, jobs=jobs, scheduler=scheduler, progress=view)
        print_case(result)
        return case_exit_code(result.outcome)

    run_guarded(debug, body)


def case_exit_code(outcome: str) -> int:
    """The exit code of a case run's outcome: 0 every device done, 5 some failed, 4 interrupted."""
    from triage.case.runner import DONE, INTERRUPTED, SOME_FAILED

    return {DONE: EXIT_OK, SOME_FAILED: EXIT_SOME_FAILED, INTERRUPTED: EXIT_INTERRUPTED}[outcome]


@main.command()
@click.argument("folders", nargs=-1, required=True, type=click.Path(path_type=Path, file_okay=False))
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def report(folders: tuple[Path, ...], debug: bool) -> None:
    """Re-render every report of device output folders from files.jsonl + summary.json (no evidence)."""

    def body() -> int:
        from triage.report import render_dir

        for folder in folders:
            written = render_dir(folder)
            err.print(f"{terminal_safe(folder)}: wrote {', '.join(p.name for p in written)}", soft_wrap=True)
        return 0

    run_guarded(debug, body)


@main.group()
def hashset() -> None:
    """Inspect, compile and verify hash sets ([alert:|known:]PATH)."""


def _hashset_command(name: str, doc: str) -> None:
    @hashset.command(name=name, help=doc)
    @click.argument("paths", nargs=-1, required=True)
    @click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False),
                  help="Where compiled indexes live (default: $TRIAGE_CACHE_DIR or ~/.cache/triage/hashsets).")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout.")
    @click.option("--force", is_flag=True, help="compile: rebuild even when a valid index exists.")
    @click.option("--debug", is_flag=True, help="Show tracebacks.")
    def command(paths: tuple[str, ...], cache_dir: Path | None, as_json: bool, force: bool, debug: bool) -> None:
        def body() -> int:
            from triage.known import cli_support

            if name == "info":
                rows = cli_support.info(list(paths), cache_dir)
            elif name == "compile":
                rows = cli_support.compile_sets(list(paths), cache_dir, force=force)
            else:
                rows = cli_support.verify(list(paths), cache_dir)
            click.echo(cli_support.render(rows, as_json=as_json))
            return 0 if all(row.get("ok", True) for row in rows) else 1

        run_guarded(debug, body)


_hashset_command("info", "Show each set's format, role, entries, sha256 and categories.")
_hashset_command("compile", "Compile each set into its cached, memory-mapped index.")
_hashset_command("verify", "Re-parse each source and check its cached index against it (exit 1 on mismatch).")
