"""Storage: SQL repositories (SQLite default, PostgreSQL), blobs on disk, in-memory fakes."""
