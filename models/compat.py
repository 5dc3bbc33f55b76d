"""Make torchvision importable when its C ops cannot load (CUDA wheel next to CPU torch), with a pure-torch NMS."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import logging
import sys
from pathlib import Path
from typing import Literal

import torch

log = logging.getLogger(__name__)

Mode = Literal["native", "patched"]
_EXTENSION_NAMES = ("_C", "_C_stable")  # torchvision's own lookup name has moved between releases
_state: Mode | None = None
_lib: torch.library.Library | None = None  # kept alive: dropping it would unregister the ops


def ensure_torchvision() -> Mode:
    """Call before the first `import torchvision`. Returns "native" when its C ops load, else "patched".

    Patched: `torchvision::nms` and `torchvision::qnms` get schemas, nms a pure-torch kernel (CPU and CUDA),
    and `torchvision.extension._has_ops` reports True so `ops.nms`/`ops.batched_nms` run. Other C++ ops
    (roi_align, deform_conv2d, ...) stay unavailable. Idempotent; does nothing where torchvision matches torch.
    """
    global _state
    if _state is None:
        _state = "native" if _native_ops_load() else _patch()
        log.info("torchvision ops: %s", _state)
    return _state


def _native_ops_load() -> bool:
    """True when torchvision's compiled ops are (or can be) registered, checked without importing torchvision."""
    if _has_op("nms") and _lib is None:
        return True
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("torchvision is not installed")
    lib_dir = spec.submodule_search_locations[0]
    finder = importlib.machinery.FileFinder(
        lib_dir, (importlib.machinery.ExtensionFileLoader, importlib.machinery.EXTENSION_SUFFIXES)
    )
    for name in _EXTENSION_NAMES:
        ext = finder.find_spec(name)
        if ext is None or ext.origin is None:
            continue
        try:
            torch.ops.load_library(ext.origin)
        except (OSError, RuntimeError) as err:
            log.info("torchvision extension %s does not load: %s", Path(ext.origin).name, err)
            return False
        return _has_op("nms")
    return False


def _has_op(name: str) -> bool:
    try:
        getattr(torch.ops.torchvision, name)
    except (AttributeError, RuntimeError):
        return False
    return True


def _patch() -> Mode:
    global _lib
    if not _has_op("nms"):
        _lib = torch.library.Library("torchvision", "FRAGMENT")
        _lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _lib.impl("nms", nms_reference, "CPU")
        _lib.impl("nms", nms_reference, "CUDA")
    # torchvision registers the fake (meta) kernels for nms/qnms itself at import time.
    if "torchvision.extension" in sys.modules and not sys.modules["torchvision.extension"]._has_ops():
        sys.modules["torchvision.extension"]._has_ops = _always
    else:
        import torchvision.extension

        if not torchvision.extension._has_ops():
            torchvision.extension._has_ops = _always
    return "patched"


def _always() -> bool:
    return True


def nms_reference(dets: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy NMS with torchvision's semantics: dets (N,4) XYXY, drops boxes with IoU > threshold; int64 kept indices by score."""
    if dets.numel() == 0:
        return torch.empty(0, dtype=torch.int64, device=dets.device)
    boxes = dets.float() if dets.dtype not in (torch.float32, torch.float64) else dets
    x1, y1, x2, y2 = boxes.unbind(1)
    areas = (x2 - x1) * (y2 - y1)
    order = torch.sort(scores, dim=0, descending=True, stable=True).indices
    keep = []
    while order.numel() > 0:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = (torch.minimum(x2[i], x2[rest]) - torch.maximum(x1[i], x1[rest])).clamp(min=0)
        h = (torch.minimum(y2[i], y2[rest]) - torch.maximum(y1[i], y1[rest])).clamp(min=0)
        inter = w * h
        iou = inter / (areas[i] + areas[rest] - inter)
        order = rest[~(iou > iou_threshold)]  # NaN (two empty boxes) is kept, as in torchvision's kernel
    return torch.stack(keep).to(torch.int64)
