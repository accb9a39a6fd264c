"""The catalog: every generation logged, found by content, drift detected.

An image is identified by its pixels (sha256 of the decoded pixel buffer), not by its
path, so a move, a rename or a metadata edit keeps its history. One SQLite file (WAL,
one transaction per batch) holds a row per file with the record's fields as columns,
adapters and model hashes in their own tables and prompts in an FTS5 index.
"""
