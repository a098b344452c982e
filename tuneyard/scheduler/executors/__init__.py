"""Executors start training workers: `local` (subprocesses, the default) and `fake` (tests)."""
