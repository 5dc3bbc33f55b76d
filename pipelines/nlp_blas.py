"""thinc CPU ops whose matrix products go through numpy's BLAS on one thread instead of blis (same parses, faster)."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from thinc.api import NumpyOps
from threadpoolctl import ThreadpoolController


@functools.cache
def _controller() -> ThreadpoolController:
    return ThreadpoolController()  # scans the loaded BLAS libraries once; limiting through it costs ~30 us a call


class NumpyBlasOps(NumpyOps):
    """NumpyOps with `gemm` done by `numpy.matmul` (OpenBLAS in numpy's wheel) on one thread: on this machine's CPUs
    blis's sgemm runs at about a third of OpenBLAS's speed and spaCy's tok2vec is almost all gemm
    (benchmarks/negatives.py). One thread, because a worker owns one core; more threads only spin against the
    other workers. Every other op is thinc's own."""

    name = "numpy_blas"

    def gemm(self, x: Any, y: Any, out: Any = None, trans1: bool = False, trans2: bool = False) -> Any:
        a = x.T if trans1 else x
        b = y.T if trans2 else y
        with _controller().limit(limits=1, user_api="blas"):
            if out is None:
                return np.matmul(a, b)
            np.matmul(a, b, out=out)
        return out


def use_blas_ops(nlp: Any) -> Any:
    """Every layer of every trained component of `nlp` put on `NumpyBlasOps` (the weights stay as they are)."""
    ops = NumpyBlasOps()
    for _, component in nlp.pipeline:
        model = getattr(component, "model", None)
        for node in model.walk() if model is not None and hasattr(model, "walk") else ():
            node.ops = ops
    return nlp
