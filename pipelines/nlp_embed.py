"""spaCy's tok2vec embedding folded into its first layer's weights: each hash table pre-multiplied once, so that a
token's embedding-and-projection is a sum of gathered rows instead of a (tokens x 576) @ (576 x 288) product."""

from __future__ import annotations

from typing import Any

import numpy as np

PRECOMPUTED = "precomputed_hashembed_maxout"


def _embed_and_maxout(tok2vec: Any) -> tuple[Any, Any] | None:
    """The `with_array(concatenate(ints-getitem>>hashembed, ...))` layer of spaCy's MultiHashEmbed and the maxout
    after it, or None when the model is not built that way."""
    nodes = list(tok2vec.walk())
    concat = next((n for n in nodes if n.name.startswith("ints-getitem>>hashembed|")), None)
    maxout = next((n for n in nodes if n.name == "maxout"), None)
    if concat is None or maxout is None or maxout.get_dim("nI") != sum(c.get_dim("nO") for c in concat.layers):
        return None
    return concat, maxout


def _tables(concat: Any, maxout: Any) -> list[tuple[Any, int, int, np.ndarray]]:
    """Per embedded column: (hashembed layer, column, nV, its table times its slice of the maxout weights)."""
    n_out = maxout.get_dim("nO") * maxout.get_dim("nP")
    weights = np.asarray(maxout.get_param("W"), dtype="float64").reshape(n_out, maxout.get_dim("nI"))
    found, offset = [], 0
    for branch in concat.layers:
        getitem, embed = branch.layers
        table = np.asarray(embed.get_param("E"), dtype="float64")
        width = table.shape[1]
        folded = (table @ weights[:, offset : offset + width].T).astype("float32")
        found.append((embed, getitem.attrs["index"][1], table.shape[0], folded))
        offset += width
    return found


def fold_embeddings(nlp: Any) -> Any:
    """Every tok2vec of `nlp` with its hash embeddings folded into the maxout after them (the same function up to
    float rounding: tests/test_nlp_embed.py). The maxout keeps only its bias and max."""
    from thinc.api import Model

    for _, component in nlp.pipeline:
        model = getattr(component, "model", None)
        found = _embed_and_maxout(model) if model is not None and hasattr(model, "walk") else None
        if found is None:
            continue
        concat, maxout = found
        tables = _tables(concat, maxout)
        bias = np.asarray(maxout.get_param("b"), dtype="float32").reshape(-1)
        shape = maxout.get_dim("nO"), maxout.get_dim("nP")

        def embed(model: Any, ids: Any, is_train: bool, tables: Any = tables, bias: Any = bias) -> Any:
            if is_train:
                raise NotImplementedError("folded embeddings are for inference only")
            ops = model.ops
            out = np.broadcast_to(bias, (len(ids), len(bias))).copy()
            for layer, column, n_rows, table in tables:
                keys = ops.hash(ops.as_contig(ids[:, column], dtype="uint64"), layer.attrs["seed"]) % n_rows
                out += ops.gather_add(table, keys)
            return out, None

        def max_of(model: Any, y: Any, is_train: bool, shape: Any = shape) -> Any:
            best, _ = model.ops.maxout(y.reshape((y.shape[0], *shape)))
            return best, None

        _replace(model, concat, Model(PRECOMPUTED, embed, ops=concat.ops))
        _replace(model, maxout, Model("maxout_of_folded", max_of, ops=maxout.ops))
    return nlp


def _replace(root: Any, old: Any, new: Any) -> None:
    for node in root.walk():
        layers = node._layers
        for i, layer in enumerate(layers):
            if layer is old:
                layers[i] = new
                return
    raise ValueError(f"{old.name} not found in {root.name}")
