"""Retrieval models: losses of the distilled student, and the fp16 on-device gallery index."""
