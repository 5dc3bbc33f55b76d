"""The training loop every trainer shares: accelerate, AdamW + schedule, EMA, safetensors checkpoints, metrics.jsonl."""

from models.training.checkpoint import Resumed, checkpoints, load_checkpoint, save_checkpoint
from models.training.loop import LoopConfig, LoopResult, Task, make_accelerator, seed_everything, train_loop
from models.training.metrics import MetricsLog, read_metrics

__all__ = [
    "LoopConfig",
    "LoopResult",
    "MetricsLog",
    "Resumed",
    "Task",
    "checkpoints",
    "load_checkpoint",
    "make_accelerator",
    "read_metrics",
    "save_checkpoint",
    "seed_everything",
    "train_loop",
]
