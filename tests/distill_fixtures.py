"""A committed tiny teacher model directory (diffusers pipeline in model/, a card, _SUCCESS) and a tiny shapes corpus."""

from __future__ import annotations

from pathlib import Path

from models.diffusion.teacher import TinyTeacherConfig, build_tiny_teacher, save_teacher
from pipelines.sources.shapes import ShapesConfig, write_shapes_source
from pipelines.training.card import ModelDir, files_sha256

# 16 px, three stages of 8/16/16 channels: a forward pass takes milliseconds on one thread
TINY = TinyTeacherConfig(
    sample_size=16, block_out_channels=(8, 16, 16), attention_head_dim=4, text_hidden=16, n_merges=300, max_length=16
)

# a few steps of a distillation trainer on that teacher
TRAIN = {
    "steps": 4, "batch_size": 2, "lr": 1e-3, "checkpoint_every": 2, "log_every": 1, "shuffle": 8,
    "eval_prompts": 2, "cpu_threads": 1, "warmup_steps": 0,
}  # fmt: skip


def teacher_dir(root: Path, seed: int = 0) -> Path:
    """A random-weight tiny teacher written as a trainer would: model/ by `save_teacher`, card.json, then _SUCCESS."""
    out = ModelDir(root)
    components = build_tiny_teacher(root / "tokenizer_src", TINY, seed=seed)
    save_teacher(components, out.model)
    out.write_card({"trainer": "test_tiny_teacher", "config": {"seed": seed}, "model_files": files_sha256(out.model)})
    out.commit()
    return root


def shapes_corpus(root: Path, n: int = 8) -> Path:
    """A one-shard shapes corpus (jpg + txt + json) of ``n`` 32 px scenes."""
    write_shapes_source(str(root), ShapesConfig(n=n, seed=0, shards=1, size=32))
    return root
