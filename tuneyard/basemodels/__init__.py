"""Built-in base models: tiny-chat (pretrained weights shipped here, written out on first use)
and the MiniLM-L6 encoder."""
