"""Training the embedding model (needs the optional extra `.[train]`: TensorFlow)."""
