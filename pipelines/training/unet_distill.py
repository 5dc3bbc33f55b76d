"""What the UNet distillation trainers share: the teacher's pipeline, text-image batches, denoisers, saving, sample sets."""

from __future__ import annotations

# isort: off
import models.compat  # noqa: F401  (torchvision's ops before diffusers imports transformers' image utils)

# isort: on
import io
import itertools
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from diffusers import DDIMScheduler, UNet2DConditionModel
from PIL import Image

from models.diffusion.distill import Denoiser, cfg_target, guidance_embedding, guided_forward
from models.diffusion.sampling import ddim_sample
from models.diffusion.teacher import load_pipeline
from pipelines.loaders import BatchLoader, LoaderConfig, Sample, ShardSet

if TYPE_CHECKING:  # the pipeline class imports transformers' image processors: only after models.compat ran
    from diffusers import StableDiffusionPipeline

CHAIN_FILE = "shardsmith_sampling.json"  # next to model_index.json; diffusers ignores it
POOL_CHUNK = 64  # teacher paths sampled at once when a path pool is built
# where a distilling student's inputs x_t come from: the training images noised (the papers'), the teacher's own
# sampling paths from noise (the states the student meets when it samples), or half of each batch from each
States = Literal["data", "trajectories", "mix"]
# (denoise, x at t, t) -> (the student's regression target at that state, the path's next state)
Advance = Callable[[Denoiser, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class ChainSampling:
    """How a model of the text-to-image chain samples. ``steps``: the DDIM steps it was distilled for (None: any);
    ``guided``: its UNet takes w as an input (``time_cond_proj_dim``), one evaluation per step at any w;
    ``baked_guidance``: an unguided student that distilled its teacher's CFG output at this w, so it samples with one
    conditional evaluation per step (``guidance_scale=1`` in diffusers). Neither: a teacher with two-evaluation CFG."""

    steps: int | None
    guided: bool
    baked_guidance: float | None = None

    def evaluations_per_step(self, w: float) -> int:
        return 1 if self.guided or self.baked_guidance is not None or w == 1.0 else 2


def pipeline_dir(model_dir: Path) -> Path:
    """A model directory's ``model/`` (the diffusers pipeline), or ``model_dir`` itself when it is the pipeline."""
    model_dir = Path(model_dir)
    return model_dir if (model_dir / "model_index.json").exists() else model_dir / "model"


def chain_sampling(model_dir: Path) -> ChainSampling:
    """A model directory's (or its pipeline directory's) sampling record (every distilled student writes one); without
    one (a teacher, a pruned UNet): any number of steps, two-evaluation CFG unless its UNet takes w."""
    model = pipeline_dir(model_dir)
    if (model / CHAIN_FILE).exists():
        return ChainSampling(**json.loads((model / CHAIN_FILE).read_text()))
    unet = json.loads((model / "unet" / "config.json").read_text())
    return ChainSampling(steps=None, guided=unet.get("time_cond_proj_dim") is not None)


def load_teacher(model_dir: Path) -> StableDiffusionPipeline:
    """The teacher's pipeline (``model/`` of a committed model directory), frozen, in eval mode."""
    pipe = load_pipeline(Path(model_dir) / "model")
    pipe.set_progress_bar_config(disable=True)
    for module in (pipe.unet, pipe.text_encoder, pipe.vae):
        module.requires_grad_(False).eval()
    return pipe


def student_scheduler(pipe: StableDiffusionPipeline, prediction_type: str) -> DDIMScheduler:
    """The students' sampler: DDIM from the teacher's noise schedule, trailing spacing, the student's prediction type."""
    return DDIMScheduler.from_config(
        pipe.scheduler.config, prediction_type=prediction_type, timestep_spacing="trailing"
    )


def save_student(
    pipe: StableDiffusionPipeline,
    unet: UNet2DConditionModel,
    prediction_type: str,
    sampling: ChainSampling,
    directory: Path,
) -> None:
    """A full `StableDiffusionPipeline` directory: the teacher's text encoder, tokenizer and VAE, the student's UNet
    and DDIM scheduler (its prediction type, trailing spacing), and the sampling record."""
    from diffusers import StableDiffusionPipeline

    student = StableDiffusionPipeline(
        vae=pipe.vae,
        text_encoder=pipe.text_encoder,
        tokenizer=pipe.tokenizer,
        unet=unet,
        scheduler=student_scheduler(pipe, prediction_type),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    student.save_pretrained(directory, safe_serialization=True)
    (Path(directory) / CHAIN_FILE).write_text(json.dumps(asdict(sampling), indent=1) + "\n")


def encode_image(sample: Sample, size: int) -> dict[str, Any]:
    """A text-image sample -> {"pixels": (3, size, size) float in [-1, 1], "caption": str}."""
    image = Image.open(io.BytesIO(sample["jpg"])).convert("RGB")
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BICUBIC)
    pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1)
    return {"pixels": pixels, "caption": sample["txt"].decode("utf-8").strip()}


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"pixels": torch.stack([i["pixels"] for i in items]), "captions": [i["caption"] for i in items]}


def image_size(pipe: StableDiffusionPipeline) -> int:
    return int(pipe.unet.config.sample_size) * int(pipe.vae_scale_factor)


class EncodeImage:
    """Picklable ``map_sample`` for the loader's worker processes."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, sample: Sample) -> dict[str, Any]:
        return encode_image(sample, self.size)


def train_batches(shards: ShardSet, size: int, batch_size: int, seed: int, shuffle: int, workers: int, start: int):
    config = LoaderConfig(batch_size, seed, True, shuffle, workers, required=("jpg", "txt"))
    return iter(BatchLoader(shards, config, EncodeImage(size), collate, start))


def eval_captions(shards: ShardSet, n: int) -> list[str]:
    """The first ``n`` captions of the shards in tar order (the fixed prompt set of the final metrics)."""
    config = LoaderConfig(n, 0, resampled=False, shuffle=0, required=("txt",), split_by_node=False)
    loader = BatchLoader(shards, config, lambda s: s["txt"].decode("utf-8").strip(), list)
    captions = list(itertools.chain.from_iterable(itertools.islice(loader, 1)))
    if not captions:
        raise ValueError(f"no captions in {shards.urls[:1]}...: cannot build the evaluation prompts")
    return captions


@torch.no_grad()
def latents_of(pipe: StableDiffusionPipeline, pixels: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] -> the UNet's latents (the VAE's mean, times its scaling factor)."""
    vae = pipe.vae.to(pixels.device)
    return vae.encode(pixels.to(vae.dtype)).latent_dist.mode() * vae.config.scaling_factor


@torch.no_grad()
def decode(pipe: StableDiffusionPipeline, latents: torch.Tensor) -> torch.Tensor:
    """Latents -> images in [-1, 1] (clamped), float32."""
    vae = pipe.vae.to(latents.device)
    return vae.decode(latents.to(vae.dtype) / vae.config.scaling_factor).sample.float().clamp(-1, 1)


@torch.no_grad()
def encode_text(pipe: StableDiffusionPipeline, captions: list[str], device: torch.device):
    """(conditional, unconditional) text embeddings (B, L, D); the unconditional one is the empty prompt's."""
    pipe.text_encoder.to(device)
    return pipe.encode_prompt(captions, device, 1, True)


def pipe_on(pipe: StableDiffusionPipeline, device: torch.device) -> StableDiffusionPipeline:
    """Move the teacher's modules (UNet, text encoder, VAE) to ``device`` once."""
    if pipe.unet.device != torch.device(device):
        pipe.to(device)
    return pipe


def denoiser_for(
    unet: UNet2DConditionModel, sampling: ChainSampling, text: torch.Tensor, uncond: torch.Tensor, w: torch.Tensor
) -> Denoiser:
    """How a model of the chain denoises at CFG scales ``w`` (B,): a guided UNet in one evaluation at w; a baked student
    (its conditional output is already guided), or w = 1, in one conditional evaluation; else two-evaluation CFG."""
    if sampling.guided:
        return lambda x, t: guided_forward(unet, x, t, text, w)
    if sampling.baked_guidance is not None or bool((w == 1.0).all()):
        return lambda x, t: unet(x, t, encoder_hidden_states=text).sample

    def cfg(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        both = unet(torch.cat([x, x]), torch.cat([t, t]), encoder_hidden_states=torch.cat([uncond, text])).sample
        out_u, out_c = both.chunk(2)
        return cfg_target(out_u, out_c, w)

    return cfg


def student_forward(
    model: torch.nn.Module,
    cond_dim: int | None,
    x_t: torch.Tensor,
    t: torch.Tensor,
    text: torch.Tensor,
    w: torch.Tensor,
) -> torch.Tensor:
    """One evaluation of a (possibly wrapped, e.g. DDP) student; a guided one gets w's embedding as `guided_forward`."""
    if cond_dim is None:
        return model(x_t, t, encoder_hidden_states=text).sample
    cond = guidance_embedding(w - 1, cond_dim).to(x_t.dtype)
    return model(x_t, t, encoder_hidden_states=text, timestep_cond=cond).sample


def uniform_w(n: int, low: float, high: float, device: torch.device) -> torch.Tensor:
    """Guidance weights w ~ U[low, high] (n,) from torch's global generator (its state is in every checkpoint)."""
    return low + (high - low) * torch.rand(n, device=device)


class EvalCounter:
    """Counts the images a UNet evaluates (a CFG call on a doubled batch counts twice) while it is installed."""

    def __init__(self, unet: torch.nn.Module) -> None:
        self.unet, self.images = unet, 0

    def __enter__(self) -> EvalCounter:
        self._hook = self.unet.register_forward_pre_hook(self._count, with_kwargs=True)
        return self

    def _count(self, module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        sample = args[0] if args else kwargs["sample"]
        self.images += int(sample.shape[0])

    def __exit__(self, *exc: object) -> None:
        self._hook.remove()


@dataclass(frozen=True)
class Samples:
    """Decoded samples (B, 3, H, W) in [-1, 1] and the UNet evaluations each image took."""

    images: torch.Tensor
    evals_per_image: float


@torch.no_grad()
def sample_model(
    pipe: StableDiffusionPipeline,
    unet: UNet2DConditionModel,
    sampling: ChainSampling,
    prompts: tuple[torch.Tensor, torch.Tensor],
    noise: torch.Tensor,
    steps: int,
    w: float,
    prediction_type: str,
) -> Samples:
    """DDIM (trailing spacing) from fixed ``noise`` with ``steps`` steps; counts UNet evaluations per image."""
    scheduler = student_scheduler(pipe, prediction_type)
    text, uncond = prompts
    ws = torch.full((len(noise),), float(w), device=noise.device)
    with EvalCounter(unet) as counter:
        latents = ddim_sample(denoiser_for(unet, sampling, text, uncond, ws), noise, scheduler, steps)
    return Samples(decode(pipe, latents), counter.images / len(noise))


def fixed_noise(pipe: StableDiffusionPipeline, n: int, seed: int, device: torch.device) -> torch.Tensor:
    size = int(pipe.unet.config.sample_size)
    g = torch.Generator().manual_seed(10_000 + seed)
    return torch.randn(n, pipe.unet.config.in_channels, size, size, generator=g).to(device)


def mse(a: torch.Tensor, b: torch.Tensor) -> float:
    return round(float((a.float() - b.float()).pow(2).mean()), 6)


def sheet(rows: list[tuple[str, torch.Tensor]], captions: list[str], path: Path, cell: int = 96) -> Path:
    """A grid: one column per model (its title), one row per prompt (#i, listed in ``path`` with suffix .txt)."""
    from pipelines.draw import contact_sheet

    tiles = []
    for i in range(len(captions)):
        for title, images in rows:
            array = ((images[i].permute(1, 2, 0).cpu().numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8)
            tiles.append((Image.fromarray(array).resize((cell, cell), Image.Resampling.NEAREST), f"#{i} {title}"))
    path.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(tiles, cell=cell, cols=len(rows)).save(path)
    path.with_suffix(".txt").write_text("".join(f"#{i} {c}\n" for i, c in enumerate(captions)))
    return path


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def pool_share(states: States, batch: int) -> int:
    """How many of a batch's ``batch`` inputs come from the path pool under ``states``."""
    return {"data": 0, "trajectories": batch, "mix": batch // 2}[states]


@dataclass(frozen=True)
class PathPool:
    """Teacher sampling paths: for path p and grid step k, the state ``x_t[p, k]`` at ``t[k]`` and the student's
    regression target there; each path's prompt embedding and guidance weight. Kept on the CPU."""

    x_t: torch.Tensor  # (P, K, C, H, W)
    target: torch.Tensor  # (P, K, C, H, W)
    text: torch.Tensor  # (P, L, D)
    w: torch.Tensor  # (P,)
    t: torch.Tensor  # (K,) long

    def draw(self, n: int, device: torch.device) -> tuple[torch.Tensor, ...]:
        """``n`` (path, step) pairs from torch's global generator: x_t, t, text, w, target, on ``device``."""
        paths, k = torch.randint(len(self.w), (n,)), torch.randint(len(self.t), (n,))
        picked = (self.x_t[paths, k], self.t[k], self.text[paths], self.w[paths], self.target[paths, k])
        return tuple(x.to(device) for x in picked)


def path_captions(shards: ShardSet, n: int, seed: int) -> list[str]:
    """``n`` captions of the training shards, shuffled by ``seed`` (the prompts of a path pool)."""
    config = LoaderConfig(n, seed, resampled=True, shuffle=1000, required=("txt",), split_by_node=False)
    loader = BatchLoader(shards, config, lambda s: s["txt"].decode("utf-8").strip(), list)
    return next(iter(loader))


def path_weights(n: int, guided: bool, guidance_range: tuple[float, float], fixed: float, seed: int) -> torch.Tensor:
    """Each path's guidance weight: U[``guidance_range``] (seeded) for a guided teacher, else ``fixed``."""
    if not guided:
        return torch.full((n,), float(fixed))
    low, high = guidance_range
    return low + (high - low) * torch.rand(n, generator=torch.Generator().manual_seed(30_000 + seed))


@torch.no_grad()
def sample_paths(
    pipe: StableDiffusionPipeline,
    teacher: ChainSampling,
    captions: list[str],
    w: torch.Tensor,
    grid: torch.Tensor,
    advance: Advance,
    seed: int,
    device: torch.device,
) -> PathPool:
    """Sample the teacher (as ``denoiser_for`` does, at each path's w) from fresh seeded noise along ``grid``: at each
    grid point ``advance`` gives the target to store and the next state. No gradients; the pool goes to the CPU."""
    g = torch.Generator().manual_seed(20_000 + seed)
    size, channels = int(pipe.unet.config.sample_size), int(pipe.unet.config.in_channels)
    states, targets, texts = [], [], []
    for start in range(0, len(captions), POOL_CHUNK):
        chunk, cw = captions[start : start + POOL_CHUNK], w[start : start + POOL_CHUNK].to(device)
        text, uncond = encode_text(pipe, chunk, device)
        denoise = denoiser_for(pipe.unet, teacher, text, uncond, cw)
        x = torch.randn(len(chunk), channels, size, size, generator=g).to(device, pipe.unet.dtype)
        xs, ys = [], []
        for t in grid.tolist():
            y, x_next = advance(denoise, x, torch.full((len(chunk),), t, dtype=torch.long, device=device))
            xs.append(x.cpu())
            ys.append(y.cpu())
            x = x_next
        states.append(torch.stack(xs, 1))
        targets.append(torch.stack(ys, 1))
        texts.append(text.cpu())
    return PathPool(torch.cat(states), torch.cat(targets), torch.cat(texts), w.cpu(), grid.cpu())
