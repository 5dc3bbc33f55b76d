"""Datasets by name."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from pipelines.datasets.base import Dataset

_DATASETS: dict[str, type[Dataset]] = {}


def register(cls: type[Dataset]) -> type[Dataset]:
    if cls.name in _DATASETS and _DATASETS[cls.name] is not cls:
        raise ValueError(f"dataset {cls.name!r} registered twice")
    _DATASETS[cls.name] = cls
    return cls


def _load_builtin() -> None:
    """Import every module of this package once: each dataset module registers itself with ``@register``."""
    import pipelines.datasets as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name not in ("base", "registry"):
            importlib.import_module(f"pipelines.datasets.{info.name}")


def dataset_names() -> list[str]:
    _load_builtin()
    return sorted(_DATASETS)


def make_dataset(name: str, config: dict[str, Any] | None = None, profile: str = "tiny") -> Dataset:
    """Build dataset ``name`` with its typed config validated from ``config`` (unknown keys are an error)."""
    _load_builtin()
    if name not in _DATASETS:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(sorted(_DATASETS))}")
    cls = _DATASETS[name]
    return cls(cls.Config.model_validate(config or {}), profile=profile)
