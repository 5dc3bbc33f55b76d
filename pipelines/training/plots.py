"""The loss-curve plot a training asset attaches: every logged loss term over steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SKIP = {"step", "lr", "samples_per_s"}


def loss_curve(rows: list[dict[str, Any]], path: Path) -> Path:
    """One line per numeric term of the step rows (eval rows are skipped); log scale when all values are positive."""
    steps = [r for r in rows if "eval" not in r]
    terms = sorted({k for r in steps for k, v in r.items() if k not in SKIP and isinstance(v, int | float)})
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    for term in terms:
        xs = [r["step"] for r in steps if isinstance(r.get(term), int | float)]
        ys = [r[term] for r in steps if isinstance(r.get(term), int | float)]
        ax.plot(xs, ys, label=term, linewidth=2 if term == "loss" else 1)
    values = [r[t] for r in steps for t in terms if isinstance(r.get(t), int | float)]
    if values and min(values) > 0:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    if terms:
        ax.legend(fontsize=8)
    fig.subplots_adjust(left=0.12, right=0.97, top=0.95, bottom=0.15)  # tight_layout measured 3 s here
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
