"""tuneyard's own API: health, the model catalogue, job timelines."""
