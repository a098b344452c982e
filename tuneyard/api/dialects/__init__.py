"""The vendor dialects; each translates its wire format to the core and back, nothing else."""
