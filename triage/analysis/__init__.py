"""What is computed from a stream's bytes: digests, the type sniff, pictures (PDQ, pHash)."""
