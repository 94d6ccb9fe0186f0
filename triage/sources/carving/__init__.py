"""Carving: pictures and videos found by signature where no file entry is left (unallocated space, outside partitions).

``unallocated.unallocated_extents`` reads each file system's own allocation map, ``outside.outside_extents`` the
space no partition holds, and ``carver.carve`` finds contiguous items in those byte ranges
(``triage.reading.carving`` runs them on a scanned device).
"""
