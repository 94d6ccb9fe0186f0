"""Carving: pictures and videos found by signature where no file entry is left (unallocated space, outside partitions).

``carver.carve`` finds contiguous items in byte ranges of a device; which ranges are unallocated is decided
elsewhere in this package.
"""
