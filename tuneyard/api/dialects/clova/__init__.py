"""NAVER CLOVA Studio tuning API v2 (`/tuning/v2/tasks`), spec §1."""
