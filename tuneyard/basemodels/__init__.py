"""Built-in base models: tiny-chat (built locally on first use) and the MiniLM-L6 encoder."""
