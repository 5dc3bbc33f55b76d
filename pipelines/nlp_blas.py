"""thinc CPU ops whose matrix products go through numpy's BLAS on one thread instead of blis (same parses, faster)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import numpy as np
from thinc.api import NumpyOps
from threadpoolctl import ThreadpoolController


@functools.cache
def _controller() -> ThreadpoolController:
    return ThreadpoolController()  # scans the loaded BLAS libraries once; limiting through it costs ~30 us a call


class NumpyBlasOps(NumpyOps):
    """NumpyOps with `gemm` done by `numpy.matmul` (OpenBLAS in numpy's wheel) on one thread: spaCy's tok2vec is
    mostly gemm, and benchmarks/negatives.py measures the whole pipe on these ops against thinc's blis ones. One
    thread, because a worker owns one core; more threads only spin against the other workers. Every other op is
    thinc's own."""

    name = "numpy_blas"

    def gemm(self, x: Any, y: Any, out: Any = None, trans1: bool = False, trans2: bool = False) -> Any:
        a = x.T if trans1 else x
        b = y.T if trans2 else y
        with _controller().limit(limits=1, user_api="blas"):
            if out is None:
                return np.matmul(a, b)
            np.matmul(a, b, out=out)
        return out


def _layers(nlp: Any) -> Iterator[Any]:
    """Every layer of every trained component of `nlp`."""
    for _, component in nlp.pipeline:
        model = getattr(component, "model", None)
        yield from model.walk() if model is not None and hasattr(model, "walk") else ()


def use_blas_ops(nlp: Any) -> Any:
    """Every layer of every trained component of `nlp` put on `NumpyBlasOps` (the weights stay as they are)."""
    ops = NumpyBlasOps()
    for node in _layers(nlp):
        node.ops = ops
    return nlp


def _layernorm(model: Any, X: Any, is_train: bool) -> Any:
    """thinc's LayerNorm forward for inference with the centred input computed once (thinc's takes `X - mu` twice,
    once inside `X.var`): the same float32 operations in the same order, so the same output bit for bit
    (tests/test_nlp_blas.py)."""
    if is_train:
        raise NotImplementedError("the folded layer norm is for inference only")
    centred = X - X.mean(axis=1, keepdims=True)
    var = np.multiply(centred, centred).sum(axis=1, keepdims=True) / X.shape[1] + 1e-08
    centred *= var ** (-1.0 / 2.0)
    centred *= model.get_param("G")
    centred += model.get_param("b")
    return centred, None


def fast_layer_norms(nlp: Any) -> Any:
    """Every LayerNorm of every trained component of `nlp` run by `_layernorm` (inference only)."""
    for node in _layers(nlp):
        if node.name == "layernorm":
            node._func = _layernorm
    return nlp
