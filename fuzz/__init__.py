"""Fuzz targets and a bounded-time runner (see README.md)."""
