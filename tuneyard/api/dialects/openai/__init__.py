"""The OpenAI fine-tuning dialect: `/v1/files` and `/v1/fine_tuning/jobs` (spec §4)."""
