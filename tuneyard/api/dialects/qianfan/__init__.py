"""Baidu Qianfan v2 fine-tuning (`/v2/finetuning?Action=…`, bce-auth-v1; spec §3)."""
