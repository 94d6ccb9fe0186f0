"""Records for pictures found inside other streams: hashed like any picture, with EXIF thumbnails cut out on the way.

Why here, with the formats: archives, thumbnail caches and the pipeline all turn picture bytes into records the
same way, and an EXIF thumbnail is found from the bytes already in memory for perceptual hashing (no second read).
"""

from __future__ import annotations

import dataclasses

from triage.analysis.digests import digest_record
from triage.analysis.pictures import PerceptualResult, is_picture_type, perceptual_hashes
from triage.model.record import FileRecord
from triage.sources.embedded import exif

EXIF_NAME = "EXIF thumbnail"


def picture_record(name: str, data: bytes, origin: str, offset: int | None = None,
                   identifier: str | None = None, notes: tuple[str, ...] = (), thumbnails: bool = True) -> FileRecord:
    """A child record for a picture held in memory: digests, type, PDQ and pHash (and, with ``thumbnails``, its
    own EXIF thumbnail in ``embedded``: one level only, so a crafted chain of nested thumbnails cannot recurse).

    ``offset`` (where the bytes start in the parent stream) is kept as a one-run ``byte_runs`` relative to the
    parent until ``adopt`` maps it onto the media.
    """
    child = FileRecord(name, None, "", None, len(data), True)
    child.origin, child.identifier = origin, identifier
    child.notes.extend(notes)
    picture = digest_record(child, [data])
    if picture is not None and is_picture_type(child.type):
        result = analyse_picture(picture, child.type) if thumbnails else perceptual_hashes(picture, mime=child.type)
        child.pdq, child.pdq_quality, child.phash = result.pdq, result.pdq_quality, result.phash
        child.pdq_dihedral = result.pdq_dihedral
        if result.error:
            child.errors.append(f"picture: {result.error}")
        child.notes.extend(result.notes)
        child.embedded = list(result.embedded) or None
    if offset is not None:
        child.byte_runs = [(0, offset, len(data))]
    return child


def analyse_picture(data: bytes, mime: str | None) -> PerceptualResult:
    """PDQ and pHash of a picture, and its EXIF thumbnail as an embedded child record."""
    result = perceptual_hashes(data, mime=mime)
    found = exif.thumbnail(data, mime)
    if found.data is not None:
        child = picture_record(EXIF_NAME, found.data, "exif-thumbnail", found.offset, thumbnails=False)
        return dataclasses.replace(result, embedded=(child,))
    if found.problem:
        return dataclasses.replace(result, notes=(found.problem,))
    return result
