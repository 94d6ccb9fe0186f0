"""vPDQ signatures of known videos: Meta's frame-list layout, alone, in a directory, or in a CSV with a video column.

A vPDQ line is what Meta's ``vpdq-hash-video`` writes (vpdq/cpp/vpdq/cpp/io/vpdqio.cpp)::

    frame_number,quality,pdq_hex,timestamp_seconds        e.g. 0,100,e271017837246aac...8d055c,0.000

Also read, because Meta's other tools print them: ``frame,pdq,quality,timestamp`` (the Python binding's README)
and ``pdq,quality,timestamp`` (python-threatexchange's compact form; frame numbers are then the line order).
Blank lines and ``#`` comments are skipped; a malformed line is a warning with its line number, like the other
parsers. Layouts of a set (see hashsets/README.md):

- one vPDQ file: one known video, named by the file's stem;
- a directory of vPDQ files (``*.txt`` / ``*.vpdq``), one video per file, a file in a sub-directory taking the
  sub-directory's name as its category (``knownvideos/1/clip.txt``);
- a CSV whose header names ``video``, ``pdq``, ``quality`` and ``timestamp`` (optionally ``frame``,
  ``category``, ``label``, ``md5``/``sha1``/``sha256``): many videos with categories in one file.

A video id of 32, 40 or 64 hex digits (``<md5>.txt``) is also listed as that md5/sha1/sha256 of the video, so an
exact copy matches by hash as well. Why bounded: a known video keeps at most ``VPDQ_MAX_FRAMES_PER_VIDEO``
frames and a line longer than ``VPDQ_MAX_LINE`` bytes is not decoded, so a hostile file costs memory in
proportion to its usable content only.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import mmap
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from triage.defaults import VPDQ_MAX_DIR_FILES, VPDQ_MAX_LINE
from triage.errors import HashSetError
from triage.known.model import (
    HEX_LEN_TO_EXACT,
    ROLE_ALERT,
    ParsedSet,
    SetBuilder,
    default_label,
    normalise_category,
)

WINDOW_BYTES = 32 << 20
SUFFIXES = (".txt", ".vpdq")
MAX_ID = 200
Frame = tuple[int | None, int, bytes, float]  # frame number (None: the line order), quality, PDQ, seconds

_HEX64 = re.compile(r"[0-9A-Fa-f]{64}")
_DIGITS = re.compile(r"\d{1,18}")
_FAST = re.compile(rb"\s*(\d{1,18})\s*,\s*(\d{1,3})\s*,\s*([0-9A-Fa-f]{64})\s*,\s*(\d{1,12}(?:\.\d{0,9})?)\s*")
_COLUMNS: dict[str, str] = {
    "video": "video", "videoid": "video", "videoname": "video",
    "frame": "frame", "framenumber": "frame", "frameno": "frame", "frameindex": "frame",
    "quality": "quality", "pdqquality": "quality",
    "pdq": "pdq", "pdqhash": "pdq", "pdqhex": "pdq",
    "timestamp": "time", "time": "time", "seconds": "time", "timestampsec": "time", "timestampseconds": "time",
    "category": "category", "cat": "category", "grade": "category",
    "label": "label", "name": "label", "description": "label",
    "md5": "md5", "sha1": "sha1", "sha256": "sha256",
}
_REQUIRED = {"video", "pdq", "quality", "time"}


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.strip().lower())


def _shown(text: str) -> str:
    return text if len(text) <= 70 else text[:67] + "..."


def frame_of(fields: list[str]) -> Frame | str:
    """A frame from the fields of one vPDQ line or record, or the reason it is not one."""
    fields = [field.strip() for field in fields]
    if len(fields) == 4 and _HEX64.fullmatch(fields[2]):
        number, quality, pdq, seconds = fields
    elif len(fields) == 4 and _HEX64.fullmatch(fields[1]):
        number, pdq, quality, seconds = fields
    elif len(fields) == 3 and _HEX64.fullmatch(fields[0]):
        pdq, quality, seconds = fields
        number = None
    else:
        return "not a vPDQ frame (frame,quality,pdq,timestamp)"
    return checked(number, quality, pdq, seconds)


def checked(number: Any, quality: Any, pdq: Any, seconds: Any) -> Frame | str:
    """Validate and convert one frame's values (text or numbers), or say which one is wrong."""
    number, quality = _whole(number), _whole(quality)
    if number is not None and not (isinstance(number, int) and not isinstance(number, bool) and number >= 0):
        if not (isinstance(number, str) and _DIGITS.fullmatch(number)):
            return f"bad frame number {str(number)[:20]!r}"
        number = int(number)
    if isinstance(quality, str) and quality.isdigit() and len(quality) <= 3:
        quality = int(quality)
    if not isinstance(quality, int) or isinstance(quality, bool) or not 0 <= quality <= 100:
        return f"bad quality {str(quality)[:20]!r} (0 to 100)"
    if not isinstance(pdq, str) or not _HEX64.fullmatch(pdq.strip()):
        return f"bad PDQ {str(pdq)[:70]!r}"
    try:
        time = float(seconds) if not isinstance(seconds, bool) else math.nan
    except (TypeError, ValueError):
        time = math.nan
    if not (math.isfinite(time) and 0 <= time < 1e9):
        return f"bad timestamp {str(seconds)[:20]!r}"
    return number, quality, bytes.fromhex(pdq.strip()), time


def _whole(value: Any) -> Any:
    """A whole float from JSON (``100.0``) as an integer; anything else unchanged."""
    return int(value) if isinstance(value, float) and value.is_integer() and abs(value) < 2**62 else value


def iter_lines(buf: np.ndarray, max_line: int = VPDQ_MAX_LINE) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line) of a byte buffer, None for a line longer than ``max_line`` (never copied whole)."""
    size, start, number = len(buf), 0, 0
    while start < size:
        stop = min(start + WINDOW_BYTES, size)
        ends = np.flatnonzero(buf[start:stop] == 10) + start
        if stop == size and (len(ends) == 0 or ends[-1] != size - 1):
            ends = np.append(ends, size)
        if len(ends) == 0:  # a whole window without a newline: one monstrous line, skipped to its end
            number += 1
            yield number, None
            start = _after_newline(buf, stop)
            continue
        for end in ends.tolist():
            number += 1
            yield number, (buf[start:end].tobytes() if end - start <= max_line else None)
            start = end + 1


def _after_newline(buf: np.ndarray, pos: int) -> int:
    """Position after the next newline at or after ``pos`` (the end of the buffer if there is none)."""
    while pos < len(buf):
        found = np.flatnonzero(buf[pos : pos + WINDOW_BYTES] == 10)
        if len(found):
            return pos + int(found[0]) + 1
        pos += WINDOW_BYTES
    return len(buf)


def read_frames(builder: SetBuilder, video: int, buf: np.ndarray, where: str = "") -> None:
    """Add the frames of one vPDQ text (lines) to a video, warning about malformed lines and the frame cap."""
    for line_no, raw in iter_lines(buf):
        if raw is None:
            builder.warnings.add(f"{where}line {line_no}: longer than {VPDQ_MAX_LINE} bytes, not a vPDQ line")
            continue
        fast = _FAST.fullmatch(raw)
        if fast and int(fast.group(2)) <= 100:  # the layout vpdq-hash-video writes, without a split
            number, quality, pdq, seconds = fast.groups()
            frame: Frame | str = (int(number), int(quality), bytes.fromhex(pdq.decode()), float(seconds))
        else:
            text = raw.decode("utf-8", "replace").strip().lstrip("\ufeff")
            if not text or text.startswith("#"):
                continue
            frame = frame_of(text.split(","))
            if isinstance(frame, str):
                frame = f"{frame}: {_shown(text)!r}"
        if isinstance(frame, str):
            builder.warnings.add(f"{where}line {line_no}: {frame}")
            continue
        if not add_frame(builder, video, frame, f"{where}line {line_no}"):
            return


def add_frame(builder: SetBuilder, video: int, frame: Frame, where: str) -> bool:
    """Add a checked frame; False (after one warning) when the video already holds the most frames allowed."""
    videos = builder.videos
    number = frame[0] if frame[0] is not None else videos.frames_of(video)
    if videos.frame(video, number, frame[1], frame[2], frame[3]):
        return True
    builder.warnings.add(f"{where}: video {videos.ids[video]!r} has more than {videos.max_frames} frames; "
                         "the rest is not read")
    return False


def start_video(
    builder: SetBuilder, video_id: str, category: Any = None, label: str | None = None, tag: int | None = None
) -> int:
    """Begin a known video; an id of 32/40/64 hex digits is listed as the video's md5/sha1/sha256 too.

    ``tag`` given (VICS, whose items list their own md5): the id is not added as a hash.
    """
    video_id = video_id if len(video_id) <= MAX_ID else video_id[: MAX_ID - 1] + "…"
    if tag is None:
        category = normalise_category(category)
        tag = builder.tag(category, label or default_label(category))
        algorithm = HEX_LEN_TO_EXACT.get(len(video_id))
        if algorithm is not None:
            builder.add_hex(algorithm, video_id, tag)
    return builder.videos.video(video_id, tag)


def finish_video(builder: SetBuilder, video: int, where: str) -> None:
    """Count a video as an entry of the set, or warn that it gave no frame."""
    if builder.videos.frames_of(video):
        builder.entry(builder.videos.tags[video])
    else:
        builder.warnings.add(f"{where}: no usable vPDQ frame")


def is_vpdq_line(line: str) -> bool:
    """True when a (stripped) line is a well-formed vPDQ frame, for format detection."""
    return not isinstance(frame_of(line.split(",")), str)


def parse_vpdq(data: bytes | memoryview | np.ndarray, video_id: str) -> ParsedSet:
    """One vPDQ file: one known video, uncategorised, named ``video_id`` (the file's stem)."""
    builder = SetBuilder()
    buf = data if isinstance(data, np.ndarray) else np.frombuffer(data, dtype=np.uint8)
    video = start_video(builder, video_id)
    read_frames(builder, video, buf)
    finish_video(builder, video, video_id)
    return builder.finish("vpdq", ROLE_ALERT)


def vpdq_csv_columns(header: str) -> tuple[str, dict[str, int]] | None:
    """Delimiter and {our column name: index} when a CSV header names a vPDQ frame list, else None."""
    delimiter = max((",", ";", "\t", "|"), key=header.count)
    try:
        cells = next(csv.reader([header], delimiter=delimiter), [])
    except csv.Error:
        return None
    columns: dict[str, int] = {}
    for index, cell in enumerate(cells):
        name = _COLUMNS.get(_norm(cell))
        if name and name not in columns:
            columns[name] = index
    return (delimiter, columns) if columns.keys() >= _REQUIRED else None


def parse_vpdq_csv(text: str) -> ParsedSet:
    """Many known videos in one CSV (one row per frame, ``video`` naming the video; see module docstring)."""
    builder = SetBuilder()
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip() and not line.startswith("#")]
    found = vpdq_csv_columns(lines[0][1]) if lines else None
    if found is None:
        raise HashSetError("not a vPDQ CSV: the header must name video, pdq, quality and timestamp columns")
    delimiter, columns = found
    videos: dict[str, tuple[int, Any]] = {}
    full: set[int] = set()
    reader = csv.reader((line for _, line in lines[1:]), delimiter=delimiter)
    for (line_no, _), row in zip(lines[1:], _rows(reader), strict=False):
        if isinstance(row, csv.Error):
            builder.warnings.add(f"line {line_no}: not a CSV row ({row})")
            continue
        cell = {name: (row[i].strip() if i < len(row) else "") for name, i in columns.items()}
        frame = checked(cell.get("frame") or None, cell["quality"], cell["pdq"], cell["time"])
        if not cell["video"]:
            frame = "no video id"
        if isinstance(frame, str):
            builder.warnings.add(f"line {line_no}: {frame}")
            continue
        if cell["video"] not in videos:
            video = start_video(builder, cell["video"], cell.get("category") or None, cell.get("label") or None)
            videos[cell["video"]] = (video, normalise_category(cell.get("category") or None))
            for algorithm in ("md5", "sha1", "sha256"):
                if cell.get(algorithm) and not builder.add_hex(algorithm, cell[algorithm],
                                                               builder.videos.tags[video]):
                    builder.warnings.add(f"line {line_no}: malformed {algorithm} {cell[algorithm][:70]!r}")
        video, category = videos[cell["video"]]
        if cell.get("category") and normalise_category(cell["category"]) != category:
            builder.warnings.add(f"line {line_no}: category differs from the video's first row (kept: {category})")
        if video not in full and not add_frame(builder, video, frame, f"line {line_no}"):
            full.add(video)
    for video_id, (video, _category) in videos.items():
        finish_video(builder, video, f"video {video_id!r}")
    return builder.finish("vpdq-csv", ROLE_ALERT)


def _rows(reader: Iterator[list[str]]) -> Iterator[list[str] | csv.Error]:
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield exc


def video_files(root: Path) -> tuple[list[tuple[str, Path, str | None]], list[str]]:
    """(relative name, path, category folder or None) of a set directory's vPDQ files, sorted; and warnings.

    Hidden names and files of other suffixes are skipped silently (a README, .DS_Store); folders below a
    category folder are warned about and not read.
    """
    found: list[tuple[str, Path, str | None]] = []
    warnings: list[str] = []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.name.startswith("."):
            continue
        if entry.is_file() and entry.name.lower().endswith(SUFFIXES):
            found.append((entry.name, Path(entry.path), None))
        elif entry.is_dir(follow_symlinks=False):
            for sub in sorted(os.scandir(entry.path), key=lambda e: e.name):
                if sub.name.startswith("."):
                    continue
                if sub.is_file() and sub.name.lower().endswith(SUFFIXES):
                    found.append((f"{entry.name}/{sub.name}", Path(sub.path), entry.name))
                elif sub.is_dir(follow_symlinks=False):
                    warnings.append(f"{entry.name}/{sub.name}: folders below a category folder are not read")
        if len(found) > VPDQ_MAX_DIR_FILES:
            warnings.append(f"more than {VPDQ_MAX_DIR_FILES} vPDQ files: the rest is not read")
            return found[:VPDQ_MAX_DIR_FILES], warnings
    return found, warnings


def parse_vpdq_dir(root: Path) -> ParsedSet:
    """A directory of vPDQ files, one known video per file (category from a sub-directory's name)."""
    builder = SetBuilder()
    files, warnings = video_files(root)
    for message in warnings:
        builder.warnings.add(message)
    for name, path, category in files:
        video = start_video(builder, path.name.rsplit(".", 1)[0], category)
        try:
            with path.open("rb") as handle:
                if os.fstat(handle.fileno()).st_size:
                    mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
                    try:
                        read_frames(builder, video, np.frombuffer(mapped, dtype=np.uint8), f"{name}: ")
                    finally:
                        with contextlib.suppress(BufferError):  # a view may live on in a traceback
                            mapped.close()
        except (OSError, ValueError) as exc:
            builder.warnings.add(f"{name}: cannot be read: {getattr(exc, 'strerror', None) or exc}")
        finish_video(builder, video, name)
    return builder.finish("vpdq-dir", ROLE_ALERT, {"files": len(files)})


def frames_from_value(builder: SetBuilder, video: int, value: Any, where: str) -> None:
    """Per-frame PDQ carried in one VICS ``AlternativeHashes`` value (see parse_vics): lines, JSON or a list.

    Accepted: a text of vPDQ lines; a text holding a JSON array (python-threatexchange's serialisation); a list
    of vPDQ line strings; a list of objects with the PDQ (``PDQ``/``Hash``/``HashValue``), ``Quality``, the time
    (``Timestamp``/``Time``/``Seconds``/``Offset``) and optionally the frame number (``Frame``/``FrameNumber``).
    """
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                builder.warnings.add(f"{where}: frame list is not valid JSON")
                return
        else:
            read_frames(builder, video, np.frombuffer(text.encode("utf-8", "replace"), dtype=np.uint8), f"{where} ")
            return
    if not isinstance(value, list):
        builder.warnings.add(f"{where}: frame list is neither text nor a list")
        return
    for i, item in enumerate(value):
        if isinstance(item, str):
            frame = frame_of(item.split(","))
        elif isinstance(item, dict):
            frame = _frame_object(item)
        else:
            frame = "not a frame"
        if isinstance(frame, str):
            builder.warnings.add(f"{where} frame {i}: {frame}")
        elif not add_frame(builder, video, frame, f"{where} frame {i}"):
            return


def _frame_object(item: dict[str, Any]) -> Frame | str:
    folded = {_norm(str(key)): value for key, value in item.items()}

    def first(*names: str) -> Any:
        return next((folded[n] for n in names if folded.get(n) is not None), None)

    pdq = first("pdq", "pdqhash", "hash", "hashvalue", "value")
    quality = first("quality", "pdqquality")
    seconds = first("timestamp", "time", "seconds", "offset", "timestampseconds", "frametime")
    if quality is None:
        return "no quality (frames without a PDQ quality cannot be gated, so they are not used)"
    if seconds is None:
        return "no timestamp"
    return checked(first("frame", "framenumber", "frameindex", "number", "index"), quality, pdq, seconds)


