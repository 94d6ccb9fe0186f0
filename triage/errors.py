"""The one exception hierarchy.

Everything the tool raises on purpose is a ``TriageError``; the CLI turns the class into an exit code and the
message into one line on stderr. Library code never prints or exits.
"""

from __future__ import annotations


class TriageError(Exception):
    """Base of every error the tool raises on purpose."""

    exit_code = 1


class UsageError(TriageError):
    """The command line or its arguments are wrong (e.g. output inside the evidence path)."""

    exit_code = 2


class EvidenceError(TriageError):
    """The evidence cannot be used at all: missing, not an image, truncated, missing segment."""

    exit_code = 3


class VolumeError(TriageError):
    """A volume or file system could not be opened; recorded in the summary, the scan goes on."""


class ReadError(TriageError):
    """A stream could not be read completely; recorded on that record, the scan goes on."""


class HashSetError(TriageError):
    """A hash set could not be read or compiled."""

    exit_code = 2


class Interrupted(TriageError):
    """The examiner stopped the run (Ctrl-C); outputs are marked incomplete."""

    exit_code = 4


class OutputError(TriageError):
    """The results could not be written: output folder full, read-only or not permitted.

    Its own exit code because the examiner fixes the output, not the evidence; the temporary output is removed
    and no earlier result is replaced.
    """

    exit_code = 6


def one_line(exc: BaseException, *, typed: bool = False, last: bool = False) -> str:
    """An exception's message on one line: notes, record errors and stderr hold one line per problem.

    ``last`` keeps only the last non-blank line, because libyal and TSK messages are backtraces whose last line
    says what failed; ``typed`` prefixes the class name, because a library's bare message (a KeyError's ``'x'``)
    says nothing without it. An empty message gives the class name.
    """
    lines = [line for line in str(exc).splitlines() if line.strip()]
    text = " ".join(" ".join(lines[-1:] if last else lines).split())
    if not text:
        return exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}" if typed else text
