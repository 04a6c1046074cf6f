"""The embedded backend: JSONL segments on local disk, signed checkpoints, a SQLite index."""
