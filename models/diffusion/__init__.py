"""Diffusers model layer: tiny teacher builders, BK-SDM pruning, step and guidance distillation math."""
