"""Frames of a video, PDQ-hashed as Meta's vPDQ does, within bounds no video can stretch.

Why: a re-encoded, cut or resized video has a new md5, and a known picture shown for a few seconds inside a video
is invisible to file hashes. PDQ of sampled frames finds both (vPDQ, ThreatExchange). This module decodes one
video (PyAV: FFmpeg's libraries inside the wheel) and returns its frame list; matching is the caller's.

Decisions, with reasons (figures in bench/RESULTS.md, "Videos"):

- **One frame per second**, the first frame of each second of the stream (vPDQ samples every ``int(fps)``-th
  frame: the same frames at integer rates, and ours stay on whole seconds at 29.97 fps or variable rates, so two
  encodings of one video are sampled at the same moments).
- **Keyframes alone where they are dense.** Decoding is nearly all the cost (PDQ of one frame a second is a few
  %). A GOP (keyframe to keyframe) no longer than ``keyframe_gap`` (2 s) is sampled at its keyframe only, and
  its other packets never reach the decoder: phone videos (1-2 s GOPs) then cost one intra frame a second. A
  longer GOP is decoded whole and sampled every second, but for the frames no other frame refers to
  (``skip_frame="NONREF"``: most B-frames), which the decoder drops unread: ~1.4× faster, and the frame sampled
  is then the first reference frame of each second, a frame or two after the whole second with B-frames
  (``skip_nonref=False`` samples exactly vPDQ's frames). A GOP's packets are held (≤ 2 s, ≤ 64 MiB) until its
  length is known. Encoders put keyframes at scene cuts, so a still's first frame is often one; a still
  shorter than the gap can fall between two keyframes (``keyframe_gap=0`` decodes every GOP whole).
- **Luminance from the decoder's Y plane** (8-bit YUV), limited range stretched to 0-255, instead of vPDQ's
  RGB24 conversion followed by PDQ's 0.299/0.587/0.114 weights: the same BT.601 luma, without a colour
  conversion per frame; other pixel formats go through RGB24 as vPDQ does. Hashes agree with the reference's
  within a few bits (tests/analysis/test_video.py) and quality equals it.
- **Consecutive near-identical frames collapse** (vPDQ's optional pruning): a frame within ``dedupe_distance``
  bits of the last kept frame is dropped, unless its quality is higher. PDQ ignores brightness scale but
  quality does not, so in a fade-in the first (dark, low-quality) frame must not stand for the bright ones.
  Black, flat and faded frames are kept with their low quality: the matchers gate on quality.
- **Bounds**: frame size checked from the stream header and enforced by the decoder itself (``max_pixels``),
  frames sampled, wall time and stream time; decoded frames are hashed and dropped at once. Whatever stopped the
  work is named in ``limits``; a damaged file gives what was decoded before the damage and a one-line ``error``.
  This function never raises for bad input.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import av
import av.logging
import numpy as np

from triage import defaults
from triage.analysis.pdq import luma_from_rgb, pdq_dihedral_from_luma, pdq_from_luma
from triage.analysis.vpdq import VideoFrame
from triage.errors import one_line

# 8-bit formats whose first plane is the luma (Y); "yuvj" ones are full range whatever the frame says.
_Y8 = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv440p", "yuvj440p",
                 "yuv411p", "yuv410p", "yuva420p", "yuva422p", "yuva444p", "nv12", "nv21", "nv16", "nv24", "gray"})
_FULL_RANGE = 2  # AVCOL_RANGE_JPEG
_STRETCH = np.float32(255.0 / 219.0)  # limited-range luma 16-235 to 0-255
_REFUSED = re.compile(r"Picture size (\d+)x(\d+) exceeds specified max pixel count")  # FFmpeg's imgutils


@dataclass(frozen=True)
class VideoLimits:
    """Sampling choices and the bounds of one video's analysis (defaults in triage.defaults)."""

    max_frames: int = defaults.VIDEO_MAX_FRAMES
    time_budget: float = defaults.VIDEO_TIME_BUDGET
    max_pixels: int = defaults.VIDEO_MAX_PIXELS
    max_duration: float = defaults.VIDEO_MAX_DURATION
    interval: float = defaults.VIDEO_SAMPLE_INTERVAL
    keyframe_gap: float = defaults.VIDEO_KEYFRAME_MAX_GAP  # 0 decodes every GOP whole
    dedupe_distance: int = defaults.VIDEO_DEDUPE_DISTANCE  # -1 keeps every sampled frame
    dihedral: bool = True
    threads: int = defaults.VIDEO_DECODE_THREADS
    skip_nonref: bool = defaults.VIDEO_SKIP_NONREF  # whole GOPs: frames no other frame refers to are not decoded


@dataclass(frozen=True)
class VideoResult:
    """What one video gave; ``frames`` may be partial when ``error`` or ``limits`` say so.

    Attributes:
        frames: kept frames in time order (see ``VideoFrame``), low-quality ones included.
        duration: seconds the file declares for the video stream (or the container), else None.
        width, height, codec, container: from the stream header (FFmpeg's names, e.g. "h264", "mov,mp4,...").
        frames_decoded: frames the decoder returned; frames_sampled: of those, hashed (before collapsing).
        keyframe_gops, full_gops: GOPs sampled at their keyframe alone, and decoded whole.
        error: one line when the video could not be opened or decoded to its end, else None.
        notes: facts that are not failures (skipped cover-art stream, unknown frame rate).
        limits: each bound that stopped the work, in words.
    """

    frames: tuple[VideoFrame, ...] = ()
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    codec: str | None = None
    container: str | None = None
    frames_decoded: int = 0
    frames_sampled: int = 0
    keyframe_gops: int = 0
    full_gops: int = 0
    error: str | None = None
    notes: tuple[str, ...] = ()
    limits: tuple[str, ...] = ()


class _Stop(Exception):  # a bound was reached (the reason is already in ``limits``)
    pass


@dataclass
class _Run:
    """State of one analysis: the decoder, the sampling cursor and what has been kept."""

    limits: VideoLimits
    stream: Any
    started: float
    origin: int  # the stream's first timestamp, in its time base
    rate: float | None  # frames per second, for frame numbers and for frames without timestamps
    frames: list[VideoFrame] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    hit: list[str] = field(default_factory=list)
    decoded: int = 0
    sampled: int = 0
    errors: int = 0
    first_error: str | None = None
    last_cell: int = -1  # sampling second of the last frame sampled from a whole GOP
    planned: float | None = None  # time of the latest frame that will be sampled (a lower bound)
    forced: set[int] = field(default_factory=set)  # timestamps of keyframes decoded alone: always sampled
    key_gops: int = 0
    full_gops: int = 0
    last_time: float = 0.0  # latest packet time seen (for truncation)

    def seconds(self, stamp: int | None) -> float | None:
        """Seconds from the stream start for a timestamp in the stream's time base."""
        return None if stamp is None else float((stamp - self.origin) * self.stream.time_base)

    def cell(self, seconds: float) -> int:
        """Which sampling second a time falls in (a millisecond of slack for rounded timestamps)."""
        return math.floor(seconds / self.limits.interval + 1e-3)

    def check(self) -> None:
        """Stop when the wall-time budget is spent."""
        spent = time.monotonic() - self.started
        if spent > self.limits.time_budget:
            self.hit.append(f"time budget of {self.limits.time_budget:g} s reached at {self.last_time:.1f} s of video")
            raise _Stop

    def decode(self, packet: Any) -> None:
        """Send one packet (None flushes) and sample what comes out; decoder errors are counted, not raised."""
        try:
            frames = self.stream.codec_context.decode(packet)
        except av.FFmpegError as exc:
            self.errors += 1
            if self.first_error is None:
                when = self.seconds(packet.pts if packet is not None else None)
                at = f" at {when:.1f} s" if when is not None else ""
                self.first_error = f"decoding failed{at}: {_say(exc)}"
            if self.errors > defaults.VIDEO_MAX_DECODE_ERRORS:
                self.hit.append(f"{self.errors} packets refused by the decoder; the rest is not decoded")
                raise _Stop from None
            return
        for frame in frames:
            self.decoded += 1
            self.take(frame)

    def plan(self, seconds: float | None) -> None:
        """A packet of a whole GOP was sent: the first frame of its second will be sampled."""
        if seconds is not None:
            start = self.cell(seconds) * self.limits.interval
            self.planned = start if self.planned is None else max(self.planned, start)

    def take(self, frame: Any) -> None:
        """Hash a keyframe sent alone, or the first frame of a new second; keep it unless it repeats the last."""
        when = self.seconds(frame.pts)
        if when is None:
            when = (self.decoded - 1) / self.rate if self.rate else float(self.decoded - 1)
        cell = self.cell(when)
        if frame.pts in self.forced:
            self.forced.discard(frame.pts)
        elif cell <= self.last_cell:
            return
        self.last_cell = max(cell, self.last_cell)
        if self.sampled >= self.limits.max_frames:
            self.hit.append(f"frame cap of {self.limits.max_frames} sampled frames reached at {when:.1f} s")
            raise _Stop
        self.sampled += 1
        luma = frame_luma(frame)
        if self.limits.dihedral:
            hashes, quality = pdq_dihedral_from_luma(luma, exact=defaults.PDQ_DIHEDRAL_EXACT)
            pdq, variants = hashes[0], hashes[1:]
        else:
            (pdq, quality), variants = pdq_from_luma(luma), None
        if self.frames and self.limits.dedupe_distance >= 0:
            last = self.frames[-1]
            close = (int(pdq, 16) ^ int(last.pdq, 16)).bit_count() <= self.limits.dedupe_distance
            if close and quality <= last.quality:
                return
        number = round(when * self.rate) if self.rate else self.sampled - 1
        self.frames.append(VideoFrame(number, round(when, 6), pdq, quality, variants))


def frame_luma(frame: Any) -> np.ndarray:
    """Float32 luminance 0-255 of a decoded frame (Y plane when 8-bit YUV, else via RGB24 as vPDQ)."""
    name = frame.format.name
    if name in _Y8:
        plane = frame.planes[0]
        rows = np.frombuffer(plane, dtype=np.uint8).reshape(frame.height, plane.line_size)[:, : frame.width]
        luma = rows.astype(np.float32)
        if name != "gray" and not name.startswith("yuvj") and frame.color_range != _FULL_RANGE:
            luma -= 16.0
            luma *= _STRETCH
            np.clip(luma, 0.0, 255.0, out=luma)
        return luma
    return luma_from_rgb(frame.to_ndarray(format="rgb24"))


def _pick_stream(container: Any) -> tuple[Any | None, list[str]]:
    """The first video stream that is not a cover picture; notes on what was passed over."""
    notes = []
    for stream in container.streams.video:
        if stream.disposition & av.stream.Disposition.attached_pic:
            notes.append(f"stream {stream.index} is an attached picture (cover art); not sampled")
            continue
        return stream, notes
    return None, notes


def _describe(container: Any, stream: Any) -> dict[str, Any]:
    """Header facts for the result: size, codec, declared duration."""
    context = stream.codec_context
    duration = None
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / av.time_base
    return {"width": context.width or None, "height": context.height or None, "codec": context.name,
            "container": container.format.name, "duration": duration}


def analyse_video(source: str | BinaryIO, limits: VideoLimits | None = None) -> VideoResult:
    """Sample, PDQ-hash and collapse the frames of one video (a path or a readable, seekable binary file).

    Returns a ``VideoResult``; never raises for bad input: a file that cannot be opened or decoded gives an
    ``error`` and the frames decoded before the problem.
    """
    limits = limits or VideoLimits()
    started = time.monotonic()
    try:
        container, probe_log = _open(source, limits)
    except Exception as exc:  # every demuxer failure is data, not a crash
        return VideoResult(error=f"cannot open: {_say(exc)}")
    try:
        return _analyse(container, limits, started, probe_log)
    finally:
        container.close()


def _open(source: str | BinaryIO, limits: VideoLimits) -> tuple[Any, list[str]]:
    """Open the container, frame size bounded; FFmpeg's error lines of the probe are returned, not printed.

    ``max_pixels`` also reaches the decoders FFmpeg opens while probing the streams, so a header claiming a huge
    frame cannot make it allocate one. Probing is bounded by FFmpeg's probesize, and so is the log kept.
    """
    previous = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)
    try:
        with av.logging.Capture(local=True) as logs:
            options = {"max_pixels": str(limits.max_pixels)}
            container = av.open(source, mode="r", metadata_errors="ignore", options=options)
    finally:
        av.logging.set_level(previous)
    return container, [str(entry[2]) for entry in logs]


def _say(exc: BaseException) -> str:
    """One line for an exception: FFmpeg's own words and the log line that explains them, when there is one."""
    if isinstance(exc, av.FFmpegError):
        text = exc.strerror or one_line(exc)
        if exc.log and len(exc.log) > 2 and str(exc.log[2]).strip():
            text = f"{text} ({one_line(ValueError(exc.log[2]))})"
        return text
    return one_line(exc, typed=True)


def _analyse(container: Any, limits: VideoLimits, started: float, probe_log: list[str]) -> VideoResult:
    """Open the decoder after the header checks, run the packets, and build the result."""
    stream, notes = _pick_stream(container)
    if stream is None:  # an audio-only MP4 (.m4a voice memo) sniffs as video/mp4: a fact, not a failure
        return VideoResult(container=container.format.name, notes=(*notes, "no video stream"))
    facts = _describe(container, stream)
    width, height = facts["width"] or 0, facts["height"] or 0
    refused = next((found for line in probe_log if (found := _REFUSED.search(line))), None)
    if not width and refused:  # FFmpeg's probe refused the header's size (our max_pixels)
        width, height = int(refused.group(1)), int(refused.group(2))
        facts.update(width=width, height=height)
    if width * height > limits.max_pixels:
        return VideoResult(**facts, notes=tuple(notes), limits=(
            f"frame size {width}x{height} over {limits.max_pixels} pixels: not decoded",))
    context = stream.codec_context
    context.thread_count = max(1, limits.threads)
    context.options = {"max_pixels": str(limits.max_pixels)}  # the decoder refuses larger frames itself
    if limits.skip_nonref:
        context.skip_frame = "NONREF"
    rate = stream.average_rate or stream.guessed_rate
    run = _Run(limits, stream, started, stream.start_time or 0, float(rate) if rate else None, notes=notes)
    if run.rate is None:
        run.notes.append("frame rate unknown: frame numbers count sampled frames")
    error = None
    try:
        error = _packets(container, run)
        run.decode(None)  # the frames still inside the decoder
    except _Stop:
        pass
    except Exception as exc:  # a failure outside FFmpeg's (numpy, memory) ends the video, keeps what was hashed
        error = f"stopped at {run.last_time:.1f} s: {_say(exc)}"
    error = error or run.first_error
    alone = len(container.streams) == 1  # else the container's duration may be another stream's (audio)
    declared = facts["duration"] if stream.duration is not None or alone else None
    if error is None and not run.hit and declared and run.last_time < declared - 2 * limits.interval:
        error = f"video ends at {run.last_time:.1f} s of {declared:.1f} s declared (truncated or damaged)"
    if run.errors > 1 and error == run.first_error:
        error = f"{error} ({run.errors} packets refused)"
    return VideoResult(tuple(run.frames), **facts, frames_decoded=run.decoded, frames_sampled=run.sampled,
                       keyframe_gops=run.key_gops, full_gops=run.full_gops, error=error, notes=tuple(run.notes),
                       limits=tuple(run.hit))


def _packets(container: Any, run: _Run) -> str | None:
    """Demux the video stream GOP by GOP: a short GOP's keyframe alone is decoded, a long GOP whole.

    ``gop`` holds the packets of the GOP whose length is not yet known; ``whole`` is True once the current GOP
    is being decoded whole (too long, too large, no timestamps, or keyframe sampling off). Returns the demuxer's
    error, after the packets read before it were decoded.
    """
    limits = run.limits
    use_keys = limits.keyframe_gap > 0
    gop: list[Any] = []
    size, key_time, whole, failure = 0, None, True, None
    packets = container.demux(run.stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except av.FFmpegError as exc:
            failure = f"stopped at {run.last_time:.1f} s: {_say(exc)}"
            break
        run.check()
        if packet.size == 0:  # the demuxer's end-of-stream packet
            break
        when = run.seconds(packet.pts if packet.pts is not None else packet.dts)
        if when is not None:
            if when > limits.max_duration:
                run.hit.append(f"only the first {limits.max_duration:g} s considered")
                break
            run.last_time = max(run.last_time, when)
        if use_keys and packet.is_keyframe:
            if gop:
                _close(run, gop, key_time, when)
            gop, size, key_time, whole = [packet], packet.size, when, False
            continue
        if whole:
            run.decode(packet)
            run.plan(when)
            continue
        gop.append(packet)
        size += packet.size
        too_long = when is None or key_time is None or when - key_time > limits.keyframe_gap
        if too_long or size > defaults.VIDEO_GOP_BUFFER:
            _close(run, gop, key_time, None)
            gop, whole = [], True
    if gop:
        _close(run, gop, key_time, run.last_time + (1 / run.rate if run.rate else 0.0))
    return failure


def _close(run: _Run, gop: list[Any], key_time: float | None, next_key: float | None) -> None:
    """Decode a buffered GOP: only its keyframe when the next keyframe follows within the gap, else all of it.

    Where keyframes are denser than one a second (an all-intra stream, MPEG-2's 12-frame GOPs), a keyframe is
    decoded when it is the first of its second, or when skipping it would leave more than one interval between
    the last sample and the next keyframe; the others are skipped.
    """
    interval = run.limits.interval
    if key_time is not None and next_key is not None and next_key - key_time <= run.limits.keyframe_gap:
        run.key_gops += 1
        last = run.planned
        if last is None or run.cell(key_time) > run.cell(last) or next_key - last > interval + 1e-3:
            key = gop[0]
            run.forced.add(key.pts if key.pts is not None else key.dts)
            run.planned = key_time
            run.decode(key)
        return
    run.full_gops += 1
    for packet in gop:
        run.decode(packet)
        run.plan(run.seconds(packet.pts if packet.pts is not None else packet.dts))
