"""The session store: runs kept beyond one process (records, SQLite or Redis, write-behind)."""
