"""loss_fell judges the run's fixed batch at fixed draws, before and after training, not two running batches."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from assets.training.launch import loss_fell_check
from models.training import LoopConfig, read_metrics, train_loop
from models.training.loop import held_loss
from pipelines.training.card import ModelDir

TRUE_W = torch.tensor([[1.0, -2.0, 0.5, 3.0]])


@dataclass
class NoisyRegression:
    """y = x @ w + noise whose scale varies tenfold from batch to batch, and input noise drawn in the loss from torch's
    global generator (as the diffusion losses draw timesteps and noise): running losses rise and fall with the batch."""

    model: nn.Module

    def batches(self, start_batch: int) -> Iterator[dict[str, torch.Tensor]]:
        b = start_batch
        while True:
            g = torch.Generator().manual_seed(b)
            x = torch.randn(16, 4, generator=g)
            scale = 0.3 * 10 ** torch.rand(1, generator=g).item()
            yield {"x": x, "y": x @ TRUE_W.T + scale * torch.randn(16, 1, generator=g)}
            b += 1

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = batch["x"] + 0.1 * torch.randn_like(batch["x"])
        return {"loss": nn.functional.mse_loss(model(x), batch["y"])}


def _train(tmp_path, lr: float, steps: int = 30, on_step=None):
    torch.manual_seed(0)
    task = NoisyRegression(nn.Linear(4, 1))
    config = LoopConfig(steps=steps, lr=lr, schedule="constant", log_every=1, checkpoint_every=10, device="cpu")
    return task, train_loop(task, config, tmp_path, on_step=on_step)


def _model_dir(tmp_path, held: dict) -> ModelDir:
    model = ModelDir(tmp_path)
    model.write_card({"held_loss": held})
    return model


def test_held_loss_repeats_its_draws_and_leaves_the_training_generator_alone():
    task = NoisyRegression(nn.Linear(4, 1))
    batch = next(task.batches(0))
    state = torch.get_rng_state()
    first = held_loss(task, task.model, batch, LoopConfig(steps=1))
    assert held_loss(task, task.model, batch, LoopConfig(steps=1)) == first
    assert torch.equal(torch.get_rng_state(), state)
    assert held_loss(task, task.model, batch, LoopConfig(steps=1, held_seed=7)) != first  # the draws count


def test_a_trained_model_passes(tmp_path):
    _, result = _train(tmp_path, lr=0.05)
    assert result.held["after"] < result.held["before"] and result.held["samples"] == 16
    check = loss_fell_check(_model_dir(tmp_path, result.held))
    assert check.passed and check.metadata["before"].value == result.held["before"]


def test_an_untrained_model_fails_though_its_running_losses_fell(tmp_path):
    _, result = _train(tmp_path, lr=0.0)
    assert result.held["after"] == result.held["before"]
    assert not loss_fell_check(_model_dir(tmp_path, result.held)).passed
    running = [r["loss"] for r in read_metrics(tmp_path / "metrics.jsonl")]
    assert running[-1] < running[0]  # what the check on running losses passed: batch noise alone


def test_a_model_perturbed_after_training_fails(tmp_path):
    task = NoisyRegression(nn.Linear(4, 1))

    def perturb(step: int) -> None:
        if step == 30:
            with torch.no_grad():
                for p in task.model.parameters():
                    p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(1)) * 10)

    torch.manual_seed(0)
    config = LoopConfig(steps=30, lr=0.05, schedule="constant", checkpoint_every=10, device="cpu")
    result = train_loop(task, config, tmp_path, on_step=perturb)
    assert not loss_fell_check(_model_dir(tmp_path, result.held)).passed


def test_a_run_without_a_held_record_fails(tmp_path):
    check = loss_fell_check(_model_dir(tmp_path, {}))
    assert not check.passed
