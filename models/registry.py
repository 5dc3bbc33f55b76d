"""Model builders registered by name, and the two profiles: "production" (configured weights) and "tiny" (random)."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, overload

from models.types import Detector, ModelSpec, Profile, Segmenter

Builder = Callable[[ModelSpec], Any]
B = TypeVar("B", bound=Builder)

_BUILDERS: dict[str, Builder] = {}
_BUILTIN_MODULES = {"grounding_dino": "models.detection.grounding_dino", "sam": "models.segmentation.sam"}

# Production settings come from the environment (the Dagster resources and Beam options set these).
_ENV = {
    "grounding_dino": {
        "checkpoint": "SHARDSMITH_GD_CHECKPOINT",
        "config": "SHARDSMITH_GD_CONFIG",
        "text_encoder": "SHARDSMITH_GD_TEXT_ENCODER",
        "sha256": "SHARDSMITH_GD_SHA256",
    },
    "sam": {
        "checkpoint": "SHARDSMITH_SAM_CHECKPOINT",
        "variant": "SHARDSMITH_SAM_VARIANT",
        "sha256": "SHARDSMITH_SAM_SHA256",
    },
}
_DEFAULT_VARIANT = {"grounding_dino": "swint_ogc", "sam": "vit_h"}


def register(name: str) -> Callable[[B], B]:
    """Decorator: `@register("sam")` makes `build("sam", spec)` call the decorated builder."""

    def deco(builder: B) -> B:
        if name in _BUILDERS and _BUILDERS[name] is not builder:
            raise ValueError(f"a model builder is already registered as {name!r}")
        _BUILDERS[name] = builder
        return builder

    return deco


@overload
def build(name: Literal["grounding_dino"], spec: ModelSpec) -> Detector: ...
@overload
def build(name: Literal["sam"], spec: ModelSpec) -> Segmenter: ...
@overload
def build(name: str, spec: ModelSpec) -> Any: ...


def build(name: str, spec: ModelSpec) -> Any:
    """Builds the model registered as `name` (a Detector for "grounding_dino", a Segmenter for "sam")."""
    if spec.name != name:
        raise ValueError(f"asked to build {name!r} from a spec for {spec.name!r}")
    if name not in _BUILDERS and name in _BUILTIN_MODULES:
        importlib.import_module(_BUILTIN_MODULES[name])
    if name not in _BUILDERS:
        raise KeyError(f"no model builder {name!r}; registered: {sorted(_BUILDERS)}")
    return _BUILDERS[name](spec)


def spec_for(name: str, profile: Profile, **overrides: Any) -> ModelSpec:
    """The ModelSpec of a profile; keyword overrides (device, thresholds, batch_size, ...) replace its fields."""
    if profile == "full-random":
        return full_random_spec(name, **overrides)
    return tiny_spec(name, **overrides) if profile == "tiny" else production_spec(name, **overrides)


def full_random_spec(name: str, cache_dir: str | os.PathLike[str] | None = None, **overrides: Any) -> ModelSpec:
    """The production architectures at full size with random weights (SwinT-OGC + bert-base; SAM vit_h), built into the
    cache on first use and loaded through production's loaders: for throughput benchmarks where no weights can be had."""
    from models import tiny

    if name == "grounding_dino":
        paths = tiny.full_random_grounding_dino(cache_dir)
        fields: dict[str, Any] = {
            "checkpoint": str(paths.checkpoint),
            "config": str(paths.config),
            "text_encoder": str(paths.text_encoder),
            "variant": tiny.FULL_GD_VARIANT,
        }
    elif name == "sam":
        variant = overrides.pop("variant", "vit_h")
        fields = {"checkpoint": str(tiny.full_random_sam(variant, cache_dir)), "variant": variant}
    else:
        raise KeyError(f"no full-random profile for {name!r}")
    return ModelSpec(name=name, profile="full-random", **{**fields, **overrides})


def tiny_spec(name: str, cache_dir: str | os.PathLike[str] | None = None, **overrides: Any) -> ModelSpec:
    """Spec of the tiny random-weight model, building its checkpoint into the cache on first use.
    Grounding DINO runs at 256 px (max 427) here instead of 800 (max 1333) to stay fast on CPU."""
    from models import tiny

    if name == "grounding_dino":
        paths = tiny.tiny_grounding_dino(cache_dir)
        fields: dict[str, Any] = {
            "checkpoint": str(paths.checkpoint),
            "config": str(paths.config),
            "text_encoder": str(paths.text_encoder),
            "variant": tiny.TINY_GD_VARIANT,
            "image_size": 256,
            "max_size": 427,
        }
    elif name == "sam":
        fields = {"checkpoint": str(tiny.tiny_sam(cache_dir)), "variant": tiny.TINY_SAM_VARIANT}
    else:
        raise KeyError(f"no tiny profile for {name!r}")
    return ModelSpec(name=name, profile="tiny", **{**fields, **overrides})


def production_spec(name: str, env: Mapping[str, str] | None = None, **overrides: Any) -> ModelSpec:
    """Spec of the production model from the environment (SHARDSMITH_GD_*, SHARDSMITH_SAM_*, SHARDSMITH_DEVICE).
    Grounding DINO's config defaults to the SwinT-OGC file shipped in groundingdino; its text encoder should be a
    local bert-base-uncased directory (SHARDSMITH_GD_TEXT_ENCODER), else transformers looks it up on the Hub."""
    env = os.environ if env is None else env
    if name not in _ENV:
        raise KeyError(f"no production profile for {name!r}")
    fields: dict[str, Any] = {"variant": _DEFAULT_VARIANT[name]}
    if name == "grounding_dino":
        fields["config"] = str(_packaged_gd_config())
    fields |= {key: env[var] for key, var in _ENV[name].items() if env.get(var)}
    if env.get("SHARDSMITH_DEVICE"):
        fields["device"] = env["SHARDSMITH_DEVICE"]
    fields |= overrides
    if "checkpoint" not in fields:
        raise ValueError(f"{name}: set {_ENV[name]['checkpoint']} to the checkpoint path or URI")
    return ModelSpec(name=name, profile="production", **fields)


def _packaged_gd_config() -> Path:
    """GroundingDINO_SwinT_OGC.py as shipped in the groundingdino package (found without importing it)."""
    spec = importlib.util.find_spec("groundingdino")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("groundingdino is not installed")
    return Path(spec.submodule_search_locations[0]) / "config" / "GroundingDINO_SwinT_OGC.py"


def resolve_checkpoint(uri: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """A local path for a checkpoint path or fsspec URI (s3://, gs://, ...), copied once into the cache."""
    if "://" not in uri or uri.startswith("file://"):
        path = Path(uri.removeprefix("file://")).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"checkpoint not found: {path}")
        return path
    import fsspec

    from models.cache import cache_root

    local = cache_root(cache_dir) / "weights" / hashlib.sha256(uri.encode()).hexdigest()[:16] / Path(uri).name
    if not local.exists():
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".{local.name}.{os.getpid()}.part")
        fs, remote = fsspec.core.url_to_fs(uri)
        fs.get(remote, str(tmp))
        os.replace(tmp, local)
    return local


def file_sha256(path: Path, expected: str | None = None) -> str:
    """Hex sha256 of a file; raises ValueError when `expected` is given and differs."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    found = digest.hexdigest()
    if expected and found != expected.lower():
        raise ValueError(f"checkpoint {path} has sha256 {found}, expected {expected}")
    return found


def model_id(family: str, spec: ModelSpec, sha256: str) -> str:
    """E.g. "groundingdino-swint_ogc(sha256:1a2b3c4d)"; a tiny-profile model says random: "sam-vit_tiny-random(...)"."""
    random = "-random" if spec.profile != "production" else ""
    return f"{family}-{spec.variant}{random}(sha256:{sha256[:8]})"
