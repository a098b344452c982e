"""Alibaba Model Studio (DashScope): `/api/v1/files` and `/api/v1/fine-tunes` (spec §2)."""
