"""Trainers by name: ``@register`` on a Trainer subclass; every module of pipelines/training/trainers/ is imported once."""

from __future__ import annotations

import importlib
import pkgutil

from pipelines.training.base import Trainer

_TRAINERS: dict[str, type[Trainer]] = {}


def register(cls: type[Trainer]) -> type[Trainer]:
    if cls.name in _TRAINERS and _TRAINERS[cls.name] is not cls:
        raise ValueError(f"trainer {cls.name!r} registered twice")
    _TRAINERS[cls.name] = cls
    return cls


def _load_builtin() -> None:
    import pipelines.training.trainers as package

    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"pipelines.training.trainers.{info.name}")


def trainer_names() -> list[str]:
    _load_builtin()
    return sorted(_TRAINERS)


def trainer_class(name: str) -> type[Trainer]:
    _load_builtin()
    if name not in _TRAINERS:
        raise KeyError(f"unknown trainer {name!r}; known: {', '.join(sorted(_TRAINERS))}")
    return _TRAINERS[name]
