"""Serving tuned models: the inference worker (torch) and its protocol (torch-free)."""
