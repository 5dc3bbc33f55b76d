"""Trainers: typed configs, ``run(spec) -> model directory``, the registry of trainers by name, and the CLI verbs."""
