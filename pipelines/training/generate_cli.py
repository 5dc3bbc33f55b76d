"""``shardsmith generate``: click only at import; torch and diffusers load when the command runs."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("generate")
@click.argument("model_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--prompt", "prompts", multiple=True, required=True, help="Text prompt (repeatable).")
@click.option("--steps", type=int, help="DDIM steps (default: the model's card, else 32).")
@click.option("--guidance", type=float, help="CFG scale w (default: the model's card, else 4; <= 1: no guidance).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the initial noise.")
@click.option("--n", "n", type=int, default=4, show_default=True, help="Images per prompt.")
@click.option("--device", default="cpu", show_default=True)
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
def generate_cmd(
    model_dir: Path,
    prompts: tuple[str, ...],
    steps: int | None,
    guidance: float | None,
    seed: int,
    n: int,
    device: str,
    out: Path,
) -> None:
    """Generate N images per prompt with MODEL_DIR (a teacher, pruned, step- or guidance-distilled model directory)."""
    from pipelines.training.t2i_generate import fixed_noise, generate, load_t2i, write_images

    model = load_t2i(model_dir, device)
    steps, guidance = steps or model.steps, model.guidance if guidance is None else guidance
    titles = [p for p in prompts for _ in range(n)]
    images = generate(model.components, titles, steps, guidance, fixed_noise(model.components, len(titles), seed),
                      model.guided)  # fmt: skip
    paths = write_images(images, titles, out)
    evals = steps * (1 if model.guided or guidance <= 1 else 2)
    click.echo(f"{len(paths)} images -> {out} ({steps} steps, guidance {guidance}, {evals} UNet evaluations each)")
