"""Images from any model directory of the text-to-image chain on fixed noise (``shardsmith generate``'s library)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from models.diffusion.objective import decode_latents, text_states, tokenize
from models.diffusion.sampling import cfg_denoiser, ddim_sample, guided_denoiser
from models.diffusion.teacher import Components, load_sd_components
from pipelines.training.unet_distill import chain_sampling, pipeline_dir

DEFAULT_STEPS = 32
DEFAULT_GUIDANCE = 4.0


@dataclass(frozen=True)
class T2IModel:
    """A loaded pipeline directory, whether its UNet is guidance-conditioned, and its sampling defaults."""

    components: Components
    guided: bool
    steps: int
    guidance: float


def sampling_defaults(config: dict[str, Any], guided: bool) -> tuple[int, float]:
    """Steps and guidance a trainer's config names: ``sample_steps`` (else ``target_steps``, the last when a list),
    ``guidance`` (else the middle of ``guidance_range`` for a guided student)."""
    steps = config.get("sample_steps", config.get("target_steps"))
    if isinstance(steps, list | tuple):
        steps = steps[-1]
    guidance = config.get("guidance")
    if guidance is None and guided and config.get("guidance_range"):
        lo, hi = config["guidance_range"]
        guidance = (lo + hi) / 2
    return int(steps or DEFAULT_STEPS), float(DEFAULT_GUIDANCE if guidance is None else guidance)


def load_t2i(model_dir: Path, device: str = "cpu") -> T2IModel:
    """The five components (SD 1.x layout, local files only) with defaults from ``card.json`` when there is one."""
    components = load_sd_components(pipeline_dir(model_dir))
    for module in (components.unet, components.vae, components.text_encoder):
        module.to(device).eval()
    guided = components.unet.config.get("time_cond_proj_dim") is not None
    card = model_dir / "card.json"
    config = json.loads(card.read_text()).get("config", {}) if card.exists() else {}
    steps, guidance = sampling_defaults(config, guided)
    chain = chain_sampling(model_dir)  # a distilled student's own record wins over its card's keys
    steps = chain.steps or steps
    if chain.baked_guidance is not None:  # the teacher's CFG is inside the UNet: one conditional pass
        guidance = 1.0
    return T2IModel(components, guided, steps, guidance)


def fixed_noise(c: Components, n: int, seed: int) -> torch.Tensor:
    """(n, C, h, w) standard normal latents from a CPU generator seeded `seed`: the same on every device."""
    size = c.unet.config.sample_size
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c.unet.config.in_channels, size, size, generator=g)


@torch.no_grad()
def generate(
    c: Components, prompts: list[str], steps: int, guidance: float, noise: torch.Tensor, guided: bool = False
) -> torch.Tensor:
    """One image per prompt from `noise` (len(prompts) rows): DDIM with the scheduler's spacing; the teacher's two
    evaluations per step (CFG at `guidance`, plain conditional at <= 1) or a guided student's one. Pixels in [0, 1]."""
    device = c.unet.device
    text = text_states(c.text_encoder, tokenize(c.tokenizer, prompts)).to(c.unet.dtype)
    noise = noise.to(device, c.unet.dtype)
    if guided:
        denoise = guided_denoiser(c.unet, text, guidance)
    elif guidance > 1:
        uncond = text_states(c.text_encoder, tokenize(c.tokenizer, [""] * len(prompts))).to(c.unet.dtype)
        denoise = cfg_denoiser(c.unet, text, uncond, guidance)
    else:

        def denoise(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return c.unet(x, t.to(device), encoder_hidden_states=text).sample

    latents = ddim_sample(denoise, noise, c.scheduler, steps)
    return decode_latents(c.vae, latents).cpu()


def to_pil(image: torch.Tensor) -> Image.Image:
    """(3, H, W) in [0, 1] -> RGB image."""
    return Image.fromarray((image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))


def write_sheet(images: torch.Tensor, titles: list[str], path: Path, cell: int = 128) -> Path:
    """A contact sheet of the images (upscaled, nearest) titled with their prompts."""
    from pipelines.draw import contact_sheet

    tiles = [
        (to_pil(im).resize((cell, cell), Image.Resampling.NEAREST), t) for im, t in zip(images, titles, strict=True)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(tiles, cell=cell, cols=min(4, len(tiles))).save(path)
    return path


def write_images(images: torch.Tensor, titles: list[str], out: Path) -> list[Path]:
    """``out/0000.png`` ... at the model's resolution, and ``out/sheet.png``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(images):
        paths.append(out / f"{i:04d}.png")
        to_pil(image).save(paths[-1])
    write_sheet(images, titles, out / "sheet.png")
    return paths


def fidelity_prompts(n: int) -> list[tuple[str, str, str]]:
    """(prompt, colour, shape) for single centred objects, every colour with every shape of the shapes corpus, in a
    fixed order (colours vary fastest), the first `n`."""
    from pipelines.sources.shapes import COLOURS, SHAPES

    pairs = [(colour, shape) for shape in SHAPES for colour in COLOURS]
    return [(f"a large plain {c} {s} in the center", c, s) for c, s in (pairs * (n // len(pairs) + 1))[:n]]


@torch.no_grad()
def score_fidelity(
    images: torch.Tensor, items: list[tuple[str, str, str]], classifier: torch.nn.Module, size: int
) -> dict[str, float]:
    """Share of `images` (B, 3, H, W) in [0, 1] whose colour / shape, the classifier's argmax over the colours / shapes
    the prompts use, is the prompt's (`items` from `fidelity_prompts`), and both at once."""
    from pipelines.training.trainers.shapes_classifier import LABELS

    logits = classifier(torch.nn.functional.interpolate(images, size=(size, size), mode="bilinear"))
    right = {}
    for head, index in (("colour", 1), ("shape", 2)):
        names = [item[index] for item in items]
        vocab = sorted(set(names), key=LABELS[head].index)
        columns = [LABELS[head].index(v) for v in vocab]
        pred = [vocab[i] for i in logits[head][:, columns].argmax(1).tolist()]
        right[head] = torch.tensor([p == t for p, t in zip(pred, names, strict=True)])
    both = right["colour"] & right["shape"]
    return {
        "fidelity_colour": round(right["colour"].float().mean().item(), 4),
        "fidelity_shape": round(right["shape"].float().mean().item(), 4),
        "fidelity_both": round(both.float().mean().item(), 4),
        "fidelity_samples": len(items),
    }


def prompt_fidelity(
    c: Components, classifier_dir: Path, steps: int, guidance: float, n: int = 36, guided: bool = False
) -> dict[str, float]:
    """`score_fidelity` of images generated from `fidelity_prompts(n)` on fixed noise (seed 0) with a
    ``shapes_classifier`` model directory's classifier at its training resolution."""
    from models.training.attribute_cnn import AttributeCNN

    items = fidelity_prompts(n)
    images = generate(c, [p for p, _, _ in items], steps, guidance, fixed_noise(c, len(items), seed=0), guided)
    classifier = AttributeCNN.from_pretrained(classifier_dir / "model").eval()
    size = json.loads((classifier_dir / "card.json").read_text())["config"]["image_size"]
    return score_fidelity(images, items, classifier, size)
