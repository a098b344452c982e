"""Datasets: format detection, streaming validation with the seeds' failure codes, examples."""
