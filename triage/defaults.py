"""One place for defaults and limits (DESIGN.md: "Defaults (thresholds, limits) live in one module").

Every bound here stops work that hostile or damaged evidence could make unbounded; whatever a bound stops is
recorded (volume notes, record errors and the summary's ``limits``), never dropped silently.
"""

from __future__ import annotations

import os

# Python's cyclic garbage collector while scanning: a young-generation pass every 20,000 container allocations
# instead of 700. A scan allocates a few objects per record and frees nearly all by reference counting (records
# hold no cycles); the default thresholds ran a pass every few records (200,000 small files: ~4-5 % of the wall
# time, alternating runs in bench/RESULTS.md, session 10). Cyclic garbage still goes, 20,000 objects later.
GC_THRESHOLDS = (20_000, 50, 100)

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

# Known videos in hash sets (triage.known.videos / video_match): vPDQ frame lists matched with Meta's rule.
VPDQ_QUERY_MATCH_PERCENT = 80.0  # share of the scanned video's usable frames found in the known video (Meta: 80)
VPDQ_KNOWN_MATCH_PERCENT = 0.0  # share of the known video's usable frames found in the scanned one (Meta: 0)
VPDQ_MAX_FRAMES_PER_VIDEO = 1_000_000  # frames kept per known video (9 h at 30 fps); the rest is warned and dropped
VPDQ_MAX_LINE = 4096  # bytes of one vPDQ line; a longer line is malformed (a real one is ~80 bytes)
VPDQ_MAX_DIR_FILES = 1_000_000  # vPDQ files read from one set directory; more are warned about and not read
VIDEO_MATCH_MAX_TIMES = 50  # frame times listed in one video match (the count of matching frames is complete)
VIDEO_MATCH_MAX_PER_SET = 100  # match dicts of one kind (pdq-frame, vpdq) per set and scanned video, nearest first
VIDEO_QUERY_BATCH = 1024  # frame hashes searched at once (bounds the candidate arrays of one search)

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


def seconds_from_env(name: str, default: float) -> float:
    """A budget in seconds: ``$name`` when set to a non-negative number (tests lower budgets so), else ``default``."""
    text = os.environ.get(name, "").strip()
    try:
        value = float(text) if text else default
    except ValueError:
        return default
    return value if value >= 0 else default


def walk_time_budget() -> float:
    """The per-file-system walk budget in seconds: ``$TRIAGE_WALK_BUDGET`` when set to a number, else the default."""
    return seconds_from_env(WALK_TIME_BUDGET_ENV, WALK_TIME_BUDGET)

# Headerless encryption (triage.sources.volumes.entropy): a volume or file is "possibly encrypted" when every
# sampled block is near-random. 4 KiB of random bytes measures ~7.95 bits/byte; compressed data with structure
# and all text, code and wiped space fall below 7.9 somewhere.
ENTROPY_BLOCK = 4096  # bytes per sample
ENTROPY_SAMPLES = 32  # samples spread evenly over the volume or file
ENTROPY_THRESHOLD = 7.9  # bits per byte every sample must reach
ENTROPY_MIN_SIZE = 1 << 20  # smaller volumes and files are not judged (VeraCrypt's smallest volume is ~300 KiB)

# Embedded pictures (triage.sources.embedded).
EXIF_THUMBNAIL_MAX = 4 << 20  # bytes; a JPEG's APP1 holds at most 64 KiB, a TIFF's IFD1 JPEG is rarely > 1 MiB
# Windows thumbnail caches. Every thumbnail a cache yields is held in memory with its parent's result, so the
# largest parent walked bounds the memory a cache can take.
THUMBCACHE_MAX_FILE = 1 << 30  # thumbcache_*.db walked; a 2560-px cache of a large photo library nears this
THUMBCACHE_MAX_ENTRIES = 500_000  # cache entries walked per file; real caches hold tens of thousands
THUMBCACHE_MAX_ENTRY = 64 << 20  # bytes one cache entry may declare (= PICTURE_BYTES); a 2560-px BMP is ~26 MiB
THUMBSDB_MAX_FILE = 256 << 20  # Thumbs.db read into memory whole; XP's hold ~5 KiB per picture of the folder
THUMBSDB_MAX_STREAMS = 100_000  # streams (thumbnails) read per Thumbs.db
THUMBSDB_MAX_STREAM = 16 << 20  # bytes of one Thumbs.db stream; XP thumbnails are 96x96 JPEGs of a few KiB

# Unallocated space for carving (triage.sources.carving.unallocated / outside): free extents are read from each
# file system's own allocation map. A badly fragmented volume has millions of free extents; past the cap the
# rest is not listed (a note says how many free bytes that leaves out).
UNALLOC_MAX_EXTENTS = 1_000_000  # free extents listed per file system (~100 MB of Python tuples at the cap)
UNALLOC_MAP_CHUNK = 4 << 20  # bytes of an allocation map (FAT, bitmap) read and decoded at a time
UNALLOC_DIR_MAX = 1 << 20  # bytes of an exFAT root directory searched for its allocation-bitmap entry

# Carving (triage.sources.carving): contiguous pictures and videos found by signature in unallocated space.
CARVE_BLOCK = 16 << 20  # bytes read and searched at a time (large blocks keep the C signature search efficient)
CARVE_MAX_ITEMS = 1_000_000  # items kept per device before carving stops (noted in the summary's limits)
CARVE_MAX_PICTURE = PICTURE_BYTES  # largest carved picture: a larger one could not be hashed perceptually anyway
CARVE_MAX_VIDEO = 8 << 30  # largest carved video (only its box headers are read to find its end)
CARVE_TIME_BUDGET = 3600.0  # seconds one device's carving may take (~700 GB of free space at disk speed)
CARVE_TIME_BUDGET_ENV = "TRIAGE_CARVE_BUDGET"  # seconds; overrides CARVE_TIME_BUDGET (tests lower it)


def carve_time_budget() -> float:
    """The per-device carving budget in seconds: ``$TRIAGE_CARVE_BUDGET`` when set to a number, else the default."""
    return seconds_from_env(CARVE_TIME_BUDGET_ENV, CARVE_TIME_BUDGET)

# LUKS2 (triage.sources.volumes.luks2): a header's claims are bounded before any work is done on them. The limits
# are cryptsetup's own (it formats no more than 4 GiB of Argon2 memory and headers of at most 4 MiB); a larger
# claim comes from a damaged or hostile header and the volume is named locked with the reason.
LUKS2_MAX_HEADER = 4 << 20  # bytes of one header copy (binary header + JSON area): the specification's largest
LUKS2_ARGON2_MAX_MEMORY = 4 << 20  # KiB (4 GiB) of Argon2 memory a keyslot may claim
LUKS2_ARGON2_MAX_TIME = 1000  # Argon2 passes a keyslot may claim (few with large memory, more with small)
LUKS2_ARGON2_MAX_LANES = 16  # Argon2 parallel lanes (cryptsetup's default is at most 4)
LUKS2_ARGON2_MAX_WORK = 64 << 20  # KiB x passes (64 GiB-passes, ~90 s on one core here): one password try's cost
LUKS2_PBKDF2_MAX_ITERATIONS = 10_000_000  # PBKDF2 rounds of a keyslot or digest (~5 s SHA-256, ~11 s SHA-512 here)

# Videos (triage.analysis.video): frames sampled and PDQ-hashed as Meta's vPDQ does, within bounds a hostile or
# damaged file cannot stretch. What a bound stops is named in the result's ``limits``.
VIDEO_SAMPLE_INTERVAL = 1.0  # seconds: one frame per second, the first of each second (vPDQ's default sampling)
VIDEO_KEYFRAME_MAX_GAP = 2.0  # seconds: a GOP whose next keyframe comes this soon is sampled at its keyframe alone
VIDEO_DEDUPE_DISTANCE = 2  # PDQ bits: a frame this close to the last kept one (and no better quality) is dropped
VIDEO_MAX_FRAMES = 14_400  # frames sampled per video (4 hours at one a second); the rest is not looked at
VIDEO_TIME_BUDGET = 600.0  # seconds of wall time per video (decoding a long, long-GOP 1080p film takes longer)
VIDEO_MAX_DURATION = 4 * 3600.0  # seconds of a video considered; later frames are not decoded
VIDEO_MAX_PIXELS = 8192 * 4320  # pixels per frame (DCI 8K); larger frames are refused before any is decoded
VIDEO_DECODE_THREADS = 1  # decoder threads: the scan already runs one video per worker on every core
VIDEO_SKIP_NONREF = True  # long GOPs: non-reference frames (most B-frames) not decoded, ~1.4x faster at 720p
VIDEO_GOP_BUFFER = 64 << 20  # bytes of compressed packets held while a GOP's length is not yet known
VIDEO_MAX_DECODE_ERRORS = 100  # packets the decoder may refuse before the video is given up

# vPDQ video-to-video matching (triage.analysis.vpdq.match_videos): ThreatExchange's defaults.
VPDQ_DISTANCE = PDQ_THRESHOLD  # PDQ bits (≤) between a query frame and a known frame
VPDQ_QUALITY = PDQ_MIN_QUALITY  # frames below this quality are left out on both sides
VPDQ_QUERY_PCT = 80.0  # % of the query's distinct frames that must be found in the known video
VPDQ_KNOWN_PCT = 0.0  # % of the known video's distinct frames that must be found in the query
VIDEO_MAX_BYTES = 16 << 30  # a larger video is not decoded (it is copied to a temporary file to be decoded)

# triage case: the terminal's progress display.
CASE_PROGRESS_ROWS = 24  # devices shown as rows of their own (queued ones too) when a run scans at most this many
