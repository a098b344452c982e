"""The HTTP edge: the FastAPI app, tuneyard's native API and the vendor dialects."""
