"""Personalization corpus logic: caption entities, Grounding DINO prompts, phrase mapping, and the box/mask filters."""
