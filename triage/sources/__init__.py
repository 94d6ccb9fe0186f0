"""Where bytes come from: containers, volume systems, file systems, archives and logical extractions."""
