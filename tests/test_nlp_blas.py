"""NumpyBlasOps: thinc's gemm contract through numpy's BLAS, and every layer of the spaCy pipeline put on it."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from thinc.api import NumpyOps

from pipelines.nlp import load_nlp
from pipelines.nlp_blas import NumpyBlasOps


def _operands(trans1: bool, trans2: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 5) if trans1 else (5, 7), dtype="float32")
    y = rng.standard_normal((9, 7) if trans2 else (7, 9), dtype="float32")
    return x, y


@pytest.mark.parametrize(("trans1", "trans2"), list(itertools.product([False, True], repeat=2)))
def test_gemm_matches_thinc_numpy_ops(trans1: bool, trans2: bool) -> None:
    x, y = _operands(trans1, trans2)
    want = NumpyOps().gemm(x, y, trans1=trans1, trans2=trans2)
    got = NumpyBlasOps().gemm(x, y, trans1=trans1, trans2=trans2)
    out = np.zeros_like(want)
    written = NumpyBlasOps().gemm(x, y, out=out, trans1=trans1, trans2=trans2)
    assert got.shape == want.shape == (5, 9)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert written is out
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)


def test_the_comparison_sees_a_transpose_ignored() -> None:
    """The check above can fail: a gemm that ignores trans2 gives another product."""
    x, _ = _operands(False, True)
    square = np.random.default_rng(1).standard_normal((7, 7), dtype="float32")
    want = NumpyOps().gemm(x, square, trans2=True)
    assert not np.allclose(NumpyBlasOps().gemm(x, square), want, atol=1e-3)


def test_every_layer_of_the_pipeline_uses_blas_ops() -> None:
    nlp = load_nlp()
    layers = [node for _, pipe in nlp.pipeline if hasattr(pipe, "model") for node in pipe.model.walk()]
    assert len(layers) > 10
    assert {type(node.ops) for node in layers} == {NumpyBlasOps}


def test_inference_layer_norm_is_thincs_bit_for_bit() -> None:
    import numpy as np
    from thinc.api import LayerNorm

    from pipelines.nlp_blas import _layernorm

    rng = np.random.RandomState(0)
    x = (rng.randn(640, 96) * 3 + 1).astype("float32")
    model = LayerNorm(96)
    model.initialize(X=x)
    model.set_param("G", rng.rand(96).astype("float32"))
    model.set_param("b", rng.rand(96).astype("float32"))
    expected = model.predict(x)
    got, _ = _layernorm(model, x.copy(), False)
    assert got.dtype == expected.dtype and np.array_equal(got, expected)
    model.set_param("b", model.get_param("b") + 1e-3)  # the comparison sees a changed parameter
    assert not np.array_equal(_layernorm(model, x.copy(), False)[0], expected)
