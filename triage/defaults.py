"""One place for defaults and limits (DESIGN.md: "Defaults (thresholds, limits) live in one module").

Every bound here stops work that hostile or damaged evidence could make unbounded; whatever a bound stops is
recorded (volume notes, record errors and the summary's ``limits``), never dropped silently.
"""

from __future__ import annotations

import os

# File-system walks.
MAX_DEPTH = 1 << 16  # directory levels below a root; the walk is iterative, this only guards absurd trees
MAX_ENTRIES = 5_000_000  # streams listed per file system before the walk stops
MAX_PATH_CHARS = 256 << 20  # characters of record paths listed per file system (records are held in memory)
WALK_TIME_BUDGET = 600.0  # seconds one file system's walk may take (a damaged file system can take hours)
WALK_TIME_BUDGET_ENV = "TRIAGE_WALK_BUDGET"  # seconds; overrides WALK_TIME_BUDGET (tests lower it)

# Stream sizes.
MAX_SIZE_FACTOR = 4  # a stream recorded as larger than 4x its volume is refused unless its runs show holes
MAX_SPARSE_SIZE = 64 << 30  # largest sparse stream hashed (holes fed as zeros: ~4 minutes of hashing at most)

# Perceptual matching: the defaults of --pdq-threshold, --phash-threshold and --pdq-quality.
PDQ_THRESHOLD = 31  # PDQ Hamming distance (of 256 bits): the PDQ authors' recommended match threshold
PHASH_THRESHOLD = 10  # pHash Hamming distance (of 64 bits)
PDQ_MIN_QUALITY = 50  # PDQ quality 0-100; below it a flat picture's hash carries too little structure to match
# PDQ's 7 rotated/mirrored variants from truly mirrored downscales (one more pass over the luminance) rather
# than the reference's sign flips of one DCT: the reference's variants sit ~7-13 bits (up to 26) from the PDQ
# of the mirrored pixels, ours within 0-4 (bench/RESULTS.md, "Mirrored and rotated copies").
PDQ_DIHEDRAL_EXACT = True

# Pictures.
PICTURE_BYTES = 64 << 20  # pictures up to this size are kept in memory for PDQ/pHash; larger ones get an error
MAX_PIXELS = 100_000_000  # a picture declaring more pixels is not decoded (decompression bombs)

# Archives (triage.sources.archives.limits.Limits takes these as its defaults). The order of magnitude mature
# scanners use (ClamAV's max-scansize/max-files/max-recursion, 7-Zip's and libarchive's bomb guards): a real
# archive never reaches them, a zip bomb, 42.zip-style nesting or a quine does.
ARCHIVE_MAX_DEPTH = 8  # archives inside archives; 42.zip needs 6, real-world nesting rarely exceeds 3
ARCHIVE_MAX_MEMBERS = 100_000  # members listed per archive (a phone extraction zip can hold this many)
ARCHIVE_MAX_TOTAL = 64 << 30  # bytes expanded per top-level archive, all nesting levels together
ARCHIVE_MAX_RATIO = 1000  # expanded/compressed per member; deflate's best is ~1032:1, only bombs get near it
ARCHIVE_RATIO_FLOOR = 16 << 20  # the ratio is judged only past this many expanded bytes (small files compress well)
ARCHIVE_SPOOL_LIMIT = 4 << 30  # largest nested archive copied to a temporary file to open it

# Logical extractions given as evidence.
EXTRACTION_MAX_MEMBERS = 10_000_000  # a whole phone is ~1M files; beyond this the walk stops with a note in limits

# Evidence containers.
PARENT_CHAIN_MAX = 32  # differencing disks stacked on one another (snapshots of snapshots); a loop stops here too
UDIF_PLIST_MAX = 64 << 20  # bytes of a .dmg's XML plist read to name its chunk kinds (a real one is < 1 MiB/GB)


def walk_time_budget() -> float:
    """The per-file-system walk budget in seconds: ``$TRIAGE_WALK_BUDGET`` when set to a number, else the default."""
    text = os.environ.get(WALK_TIME_BUDGET_ENV, "").strip()
    try:
        value = float(text) if text else WALK_TIME_BUDGET
    except ValueError:
        return WALK_TIME_BUDGET
    return value if value >= 0 else WALK_TIME_BUDGET

# Headerless encryption (triage.sources.volumes.entropy): a volume or file is "possibly encrypted" when every
# sampled block is near-random. 4 KiB of random bytes measures ~7.95 bits/byte; compressed data with structure
# and all text, code and wiped space fall below 7.9 somewhere.
ENTROPY_BLOCK = 4096  # bytes per sample
ENTROPY_SAMPLES = 32  # samples spread evenly over the volume or file
ENTROPY_THRESHOLD = 7.9  # bits per byte every sample must reach
ENTROPY_MIN_SIZE = 1 << 20  # smaller volumes and files are not judged (VeraCrypt's smallest volume is ~300 KiB)
