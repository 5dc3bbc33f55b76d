"""Shared diffusion test helpers: tiny teacher sizes and UNet inputs, a committed teacher directory, a shapes corpus,
a trainer's fixed-batch loss."""

from __future__ import annotations

from pathlib import Path

import torch

from models.diffusion.teacher import TinyTeacherConfig, build_tiny_teacher, save_teacher
from pipelines.sources.shapes import ShapesConfig, write_shapes_source
from pipelines.training.card import ModelDir, files_sha256
from pipelines.training.run import TrainSpec, resolve

# 16 px, three stages of 8/16/16 channels: a forward pass takes milliseconds on one thread
TINY = TinyTeacherConfig(
    sample_size=16, block_out_channels=(8, 16, 16), attention_head_dim=4, text_hidden=16, n_merges=300, max_length=16
)

# a few steps of a distillation trainer on that teacher
TRAIN = {
    "steps": 4, "batch_size": 2, "lr": 1e-3, "checkpoint_every": 2, "log_every": 1, "shuffle": 8,
    "eval_prompts": 2, "cpu_threads": 1, "warmup_steps": 0,
}  # fmt: skip

# the random-weight UNet of the pruning tests (conftest's `unet_teacher`) and the architecture tests/test_t2i_trainers.py
# trains with t2i_teacher and prunes with unet_prune: 16 px, three stages of 8/16/32 channels, 32-d text states
UNET_TINY = TinyTeacherConfig(sample_size=16, block_out_channels=(8, 16, 32), text_hidden=32)


def teacher_dir(root: Path, seed: int = 0) -> Path:
    """A random-weight tiny teacher written as a trainer would: model/ by `save_teacher`, card.json, then _SUCCESS."""
    out = ModelDir(root)
    components = build_tiny_teacher(root / "tokenizer_src", TINY, seed=seed)
    save_teacher(components, out.model)
    out.write_card({"trainer": "test_tiny_teacher", "config": {"seed": seed}, "model_files": files_sha256(out.model)})
    out.commit()
    return root


def unet_inputs(seed: int = 0, cfg: TinyTeacherConfig = UNET_TINY) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two fixed UNet inputs for ``cfg``: x_t (2, 3, S, S) and text states (2, 5, D) standard normal from ``seed``,
    timesteps (10, 700)."""
    g = torch.Generator().manual_seed(seed)
    size, hidden = cfg.sample_size, cfg.text_hidden
    return torch.randn(2, 3, size, size, generator=g), torch.tensor([10, 700]), torch.randn(2, 5, hidden, generator=g)


def shapes_corpus(root: Path, n: int = 8) -> Path:
    """A one-shard shapes corpus (jpg + txt + json) of ``n`` 32 px scenes."""
    write_shapes_source(str(root), ShapesConfig(n=n, seed=0, shards=1, size=32))
    return root


def losses_on_a_fixed_batch(
    spec: TrainSpec, steps: int, lr: float, optimizer: type[torch.optim.Optimizer] = torch.optim.Adam
) -> list[float]:
    """The trainer's own loss on its first batch at each of ``steps`` optimizer steps, reseeded before every loss so
    that the noise, timesteps, dropout and guidance weights are the same each time; asserts every term is finite."""
    trainer = resolve(spec).trainer
    torch.manual_seed(0)
    model = trainer.build()
    task = trainer.task(model)
    batch = next(task.batches(0))
    opt = optimizer([p for p in model.parameters() if p.requires_grad], lr=lr)
    losses = []
    for _ in range(steps):
        torch.manual_seed(1)
        terms = task.loss(model, batch)
        assert all(torch.isfinite(v) for v in terms.values())
        losses.append(float(terms["loss"].detach()))
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
    return losses
