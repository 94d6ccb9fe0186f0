"""ISO-8601 times, formatted in one place so that a time reads the same whichever source gave it.

UTC times end in "Z" and carry a fraction only when there is one (trailing zeros dropped, at most nanoseconds).
A time whose zone is unknown (a zip's or a RAR 4's DOS time is the archiver's local time) is written without
"Z": pretending it is UTC would put it hours off with nothing to show it. ``None`` means "no time": 0 (what file
systems and archives store for an unset time) or a value no calendar can hold.
"""

from __future__ import annotations

import calendar
import functools
from datetime import UTC, datetime

_NS = 1_000_000_000
_FILETIME_EPOCH = 116_444_736_000_000_000  # 1601-01-01 to 1970-01-01 in 100 ns units
_SECONDS = "%Y-%m-%dT%H:%M:%S"


def iso_utc(seconds: int | float | None, nanos: int = 0) -> str | None:
    """POSIX seconds (int or float; plus ``nanos``) as ISO-8601 UTC; None for no time (0) or one out of range."""
    if type(seconds) is int and type(nanos) is int and 0 <= nanos < _NS:  # what file systems give: no arithmetic
        whole = seconds
    elif seconds is None:
        return None
    else:
        try:
            if isinstance(seconds, float):
                whole, nanos = divmod(round(seconds * _NS) + nanos, _NS)
            else:
                whole, nanos = divmod(int(seconds) * _NS + nanos, _NS)
        except (OverflowError, OSError, ValueError):
            return None
    if not whole:
        return None
    try:
        text = _second_text(whole)
    except (OverflowError, OSError, ValueError):
        return None
    return text + _fraction(nanos) + "Z" if nanos else text + "Z"


@functools.lru_cache(maxsize=1 << 14)
def _second_text(whole: int) -> str:
    """One second as text, remembered: files of one device share many times (a copy, an install, an unpacked
    archive), and formatting a datetime cost 2.5 us, ten per record (issue 17)."""
    return datetime.fromtimestamp(whole, UTC).strftime(_SECONDS)


def iso_ns(nanoseconds: int | None) -> str | None:
    """POSIX nanoseconds (APFS, ``os.stat``'s ``st_mtime_ns``) as ISO-8601 UTC."""
    return iso_utc(0, nanoseconds) if nanoseconds else None


def iso_filetime(value: int | None) -> str | None:
    """A Windows FILETIME (100 ns units since 1601: 7z, a zip's NTFS extra field) as ISO-8601 UTC."""
    return iso_ns((value - _FILETIME_EPOCH) * 100) if value else None


def iso_datetime(moment: datetime | None) -> str | None:
    """A datetime as ISO-8601: an aware one in UTC with "Z", a naive one (zone unknown) as it is, without "Z"."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.strftime(_SECONDS) + _fraction(getattr(moment, "nanosecond", moment.microsecond * 1000))
    nanos = getattr(moment, "nanosecond", moment.microsecond * 1000)  # rarfile's nsdatetime keeps nanoseconds
    try:
        return iso_utc(calendar.timegm(moment.astimezone(UTC).timetuple()), nanos)
    except (OverflowError, ValueError):
        return None


def dos_time(date_time: tuple[int, ...] | None) -> str | None:
    """A DOS date and time (zip, RAR 4: the archiver's local time, no zone) without "Z"; None when not a date."""
    if not date_time:
        return None
    try:
        return datetime(*date_time[:6]).strftime(_SECONDS)
    except (TypeError, ValueError):
        return None


def now() -> str:
    """The current time to the second, ISO-8601 UTC, for "started", "finished", "generated" and "compiled"."""
    return datetime.now(UTC).strftime(_SECONDS) + "Z"


def _fraction(nanos: int) -> str:
    return f".{nanos:09d}".rstrip("0") if nanos else ""
