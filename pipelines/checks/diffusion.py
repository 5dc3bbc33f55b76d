"""Checks of the text-to-image chain's saved model directories, computed from the diffusers files, not the cards' metrics."""

from __future__ import annotations

# isort: off
import models.compat  # noqa: F401  (torchvision's ops before diffusers imports transformers' image utils)

# isort: on
import json
from pathlib import Path

import torch

from pipelines.checks.base import CheckOutcome, outcome
from pipelines.training.unet_distill import chain_sampling, pipeline_dir

# Fixed prompts in the shapes corpus' caption style (the near_teacher check samples teacher and student on them).
CHECK_PROMPTS = (
    "a large plain red circle in the center",
    "a large plain blue square in the center",
    "a small striped green triangle on the left",
    "a large spotted yellow star on the right",
)
DEFAULT_STEPS = 32


def unet_params(model_dir: Path) -> int:
    """Parameters of the saved UNet, loaded with diffusers from ``unet/`` (the card's figures are not read)."""
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(str(pipeline_dir(model_dir)), subfolder="unet", local_files_only=True)
    return sum(p.numel() for p in unet.parameters())


def params_reduced(student: Path, teacher: Path, max_fraction: float) -> CheckOutcome:
    """The student's UNet has at most ``max_fraction`` of the teacher's UNet parameters."""
    s, t = unet_params(student), unet_params(teacher)
    fraction = s / t
    problems = [] if fraction <= max_fraction else [f"student UNet has {s} params, {fraction:.3f} of the teacher's {t}"]
    return outcome(
        "params_reduced", problems, student_params=s, teacher_params=t, fraction=round(fraction, 4), max=max_fraction
    )


def check_noise(model_dir: Path, n: int, seed: int) -> torch.Tensor:
    """``n`` fixed initial latents of the saved UNet's ``sample_size`` and ``in_channels`` (the same for every model of
    one chain, so a student and its teacher start from the same noise)."""
    config = json.loads((pipeline_dir(model_dir) / "unet" / "config.json").read_text())
    size, channels = int(config["sample_size"]), int(config["in_channels"])
    return torch.randn(n, channels, size, size, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def sample_dir(model_dir: Path, prompts: list[str], noise: torch.Tensor, steps: int, w: float) -> torch.Tensor:
    """Images in [0, 1] from a saved pipeline on ``noise``: DDIM with its saved scheduler, one evaluation per step for
    a guided UNet (at w) or a baked student (conditional), two-evaluation CFG at w otherwise."""
    from models.diffusion.objective import decode_latents, text_states, tokenize
    from models.diffusion.sampling import cfg_denoiser, ddim_sample, guided_denoiser
    from models.diffusion.teacher import load_sd_components

    c = load_sd_components(pipeline_dir(model_dir))
    for module in (c.unet, c.vae, c.text_encoder):
        module.eval()
    sampler = chain_sampling(model_dir)
    text = text_states(c.text_encoder, tokenize(c.tokenizer, prompts))
    if sampler.guided:
        denoise = guided_denoiser(c.unet, text, w)
    elif sampler.baked_guidance is not None or w <= 1.0:

        def denoise(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return c.unet(x, t, encoder_hidden_states=text).sample
    else:
        uncond = text_states(c.text_encoder, tokenize(c.tokenizer, [""] * len(prompts)))
        denoise = cfg_denoiser(c.unet, text, uncond, w)
    return decode_latents(c.vae, ddim_sample(denoise, noise, c.scheduler, steps))


def _steps(student: Path, teacher: Path, steps: int | None = None) -> tuple[int, int]:
    """The student's DDIM steps (its record, else ``steps``, else its card's ``sample_steps``); its teacher's: the
    teacher's record, else twice the student's for a step-distilled student (2N -> N), else the student's."""
    card = json.loads((Path(student) / "card.json").read_text()) if (Path(student) / "card.json").exists() else {}
    s = chain_sampling(student).steps or steps or int(card.get("config", {}).get("sample_steps") or DEFAULT_STEPS)
    step_distilled = card.get("trainer") == "unet_step_distill"
    return s, chain_sampling(teacher).steps or (2 * s if step_distilled else s)


def near_teacher(
    student: Path,
    teacher: Path,
    max_mse: float,
    w: float = 4.0,
    steps: int | None = None,
    prompts: tuple[str, ...] = CHECK_PROMPTS,
    seed: int = 0,
) -> CheckOutcome:
    """The student's samples are within ``max_mse`` (mean squared pixel error in [0, 1]) of its teacher's on the same
    noise and prompts; a baked student is compared with its teacher at the CFG scale it baked in. ``steps``: for a
    student that samples in any number of steps (pruned, guidance-distilled), the DDIM steps of both."""
    noise = check_noise(student, len(prompts), seed)
    baked = chain_sampling(student).baked_guidance
    w = baked if baked is not None else w
    s_steps, t_steps = _steps(student, teacher, steps)
    ours = sample_dir(student, list(prompts), noise, s_steps, w)
    theirs = sample_dir(teacher, list(prompts), noise, t_steps, w)
    mse = float((ours - theirs).pow(2).mean())
    problems = [] if mse <= max_mse else [f"samples MSE {mse:.5f} vs the teacher's exceeds {max_mse}"]
    return outcome(
        "near_teacher", problems, mse=round(mse, 6), max_mse=max_mse, student_steps=s_steps, teacher_steps=t_steps, w=w
    )


# prompt_fidelity: colour, which a demo-sized teacher learns (the demo's shapes classifier names the shapes of rendered
# scenes far less surely than their colours); chance among the six corpus colours is 1/6.
FIDELITY_HEAD = "colour"
FIDELITY_PROMPTS = 36  # every corpus colour x shape once


def classifier_of(classifier_dir: Path) -> tuple[torch.nn.Module, int]:
    """A committed ``shapes_classifier`` model directory's CNN (``model/``, safetensors) and its training resolution."""
    from models.training.attribute_cnn import AttributeCNN

    config = json.loads((Path(classifier_dir) / "card.json").read_text())["config"]
    return AttributeCNN.from_pretrained(Path(classifier_dir) / "model").eval(), int(config["image_size"])


def prompt_fidelity(
    model_dir: Path,
    classifier_dir: Path,
    floor: float,
    w: float = 4.0,
    steps: int | None = None,
    head: str = FIDELITY_HEAD,
    n: int = FIDELITY_PROMPTS,
    seed: int = 0,
) -> CheckOutcome:
    """At least ``floor`` of the model's samples, one per single-object prompt of ``fidelity_prompts(n)`` on fixed
    noise, show the prompt's ``head`` (colour or shape) by the classifier's argmax among the values the prompts use.
    Sampling as near_teacher's: the student's own steps (else ``steps``, else 32) and baked CFG scale, else w."""
    from pipelines.training.t2i_generate import fidelity_prompts, score_fidelity

    items = fidelity_prompts(n)
    noise = check_noise(model_dir, len(items), seed)
    sampler = chain_sampling(model_dir)
    w = sampler.baked_guidance if sampler.baked_guidance is not None else w
    s = sampler.steps or steps or DEFAULT_STEPS
    images = sample_dir(model_dir, [p for p, _, _ in items], noise, s, w)
    classifier, resolution = classifier_of(classifier_dir)
    scores = score_fidelity(images, items, classifier, resolution)
    share = scores[f"fidelity_{head}"]
    problems = (
        [] if share >= floor else [f"{share:.3f} of {len(items)} samples show the prompt's {head}, under {floor}"]
    )
    return outcome("prompt_fidelity", problems, **scores, head=head, floor=floor, steps=s, w=w)
