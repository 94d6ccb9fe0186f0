"""A logical extraction given as evidence: one device with no media and no volumes, one lister (the extraction).

Why its own small class: the scan asks an evidence for its files, format and a summary block; an extraction has
no media to verify, so the scan hashes the extraction file itself (md5, sha1, sha256: what the examiner quotes to
show the file scanned is the file received) and reports "not stored" against nothing stored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triage.sources.extractions import Extraction

CHUNK = 4 << 20


@dataclass
class ExtractionEvidence:
    """An opened extraction (tar, compressed tar, zip or folder) as the scan's evidence."""

    path: Path
    extraction: Extraction
    stored_hashes: dict[str, str] = field(default_factory=dict)

    @property
    def paths(self) -> list[Path]:
        return [self.path]

    @property
    def format(self) -> str:
        return self.extraction.name

    @property
    def media_size(self) -> int:
        return self.extraction.size

    def describe(self) -> dict[str, Any]:
        return {"paths": [str(self.path)], "format": self.extraction.name, "media_size": self.media_size,
                "stored_hashes": {}, "acquisition": {}, "extraction": self.extraction.kind}

    def file_hashes(self) -> dict[str, str]:
        """md5, sha1 and sha256 of the extraction file (a folder has none)."""
        if not self.path.is_file():
            return {}
        digests = {"md5": hashlib.md5(), "sha1": hashlib.sha1(), "sha256": hashlib.sha256()}
        with open(self.path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                for digest in digests.values():
                    digest.update(chunk)
        return {name: digest.hexdigest() for name, digest in digests.items()}

    def close(self) -> None:
        self.extraction.close()


def open_extraction(path: Path) -> ExtractionEvidence | None:
    """The extraction at ``path`` as evidence, or None when it is not one (then it is a disk image or nothing)."""
    from triage.sources.extractions import detect_extraction

    if detect_extraction(path) is None:
        return None
    return ExtractionEvidence(Path(path), Extraction(Path(path)))
