"""Archives as child records: zip, 7z, tar (plain, .gz, .bz2, .xz), single-file gzip/bzip2/xz, rar v4/v5.

Why a package of its own: material sits inside archives inside archives; ``expand()`` turns the bytes of one
archive into member records (digests, type, PDQ/pHash) depth first, nested archives included, with every bound
(depth, members, total bytes, ratio, spool size) stated once in ``limits.py`` and reported in ``limits_hit``.
Who calls it, and on which process, is the scan's business: this package only needs a seekable byte stream.

API: ``ARCHIVE_TYPES``, ``is_archive(mime, head)``, ``sniff_archive(head)``, ``Limits``, ``Child``,
``expand(source, archive_mime, parent, *, limits, depth, origin, keep_pictures, limits_hit, archive_errors)``.
"""

from __future__ import annotations

from triage.sources.archives.expand import CHAIN_SEPARATOR, Child, expand
from triage.sources.archives.limits import Limits
from triage.sources.archives.sniff import ARCHIVE_TYPES, is_archive, sniff_archive

__all__ = ["ARCHIVE_TYPES", "CHAIN_SEPARATOR", "Child", "Limits", "expand", "is_archive", "sniff_archive"]
