"""torchvision compat: a fresh interpreter that imports models gets working torchvision NMS, native or patched."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

from models.compat import nms_reference


def brute_force_nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> list[int]:
    """Greedy NMS over the full IoU matrix, independent of the implementation under test."""
    x1, y1, x2, y2 = boxes.double().unbind(1)
    area = (x2 - x1) * (y2 - y1)
    iw = (torch.minimum(x2[:, None], x2[None]) - torch.maximum(x1[:, None], x1[None])).clamp(min=0)
    ih = (torch.minimum(y2[:, None], y2[None]) - torch.maximum(y1[:, None], y1[None])).clamp(min=0)
    iou = iw * ih / (area[:, None] + area[None] - iw * ih)
    keep, suppressed = [], set()
    for i in sorted(range(len(scores)), key=lambda k: (-float(scores[k]), k)):
        if i in suppressed:
            continue
        keep.append(i)
        suppressed |= {j for j in range(len(scores)) if iou[i, j] > threshold}
    return keep


def random_boxes(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 200
    boxes = torch.cat([xy, xy + 5 + torch.rand(n, 2, generator=g) * 80], dim=1)
    return boxes, torch.rand(n, generator=g)


def test_nms_reference_matches_brute_force():
    for seed, threshold in [(0, 0.5), (1, 0.3), (2, 0.7)]:
        boxes, scores = random_boxes(300, seed)
        assert nms_reference(boxes, scores, threshold).tolist() == brute_force_nms(boxes, scores, threshold)
    empty = nms_reference(torch.zeros(0, 4), torch.zeros(0), 0.5)
    assert empty.dtype == torch.int64 and empty.numel() == 0


_CHILD = textwrap.dedent(
    """
    import json, sys
    import torch
    import models
    from models.compat import ensure_torchvision
    import torchvision
    from torchvision.ops import batched_nms, nms
    sys.path.insert(0, sys.argv[1])
    from test_models_compat import brute_force_nms, random_boxes

    boxes, scores = random_boxes(400, 7)
    classes = torch.arange(400) % 3
    per_class = sorted(
        (int(i) for c in range(3) for i in torch.nonzero(classes == c).flatten()[brute_force_nms(boxes[classes == c], scores[classes == c], 0.5)]),
        key=lambda i: -float(scores[i]),
    )
    print(json.dumps({
        "mode": models.TORCHVISION_OPS,
        "again": ensure_torchvision(),
        "nms": nms(boxes, scores, 0.5).tolist(),
        "expected": brute_force_nms(boxes, scores, 0.5),
        "batched": batched_nms(boxes, scores, classes, 0.5).tolist(),
        "batched_expected": per_class,
    }))
    """
)


def test_fresh_interpreter_gets_working_torchvision_nms():
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["mode"] in ("native", "patched") and result["again"] == result["mode"]
    assert result["nms"] == result["expected"]
    assert result["batched"] == result["batched_expected"]
