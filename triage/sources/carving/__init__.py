"""Carving: pictures found where no file is left (unallocated blocks, space outside any partition)."""
