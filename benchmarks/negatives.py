"""retrieval_negatives rules: quality on held-out hand-labelled captions (benchmarks/data/), judged by
benchmarks/negatives_judge.py, open vocabulary against the curated vocabulary alone; and captions/s per core with the
parse included, on the held-out captions and a larger generated caption file (benchmarks/negatives_captions.py)."""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from benchmarks.common import median, write_result
from benchmarks.negatives_captions import captions as generated_captions
from benchmarks.negatives_judge import EvalCaption, changes, keeps_category, load_eval, synonyms
from pipelines.datasets.retrieval_negatives import RetrievalNegativesConfig
from pipelines.negatives import Negative, NegativesConfig, generate_negatives_many, prepare_rules
from pipelines.negatives.parse import parse_captions
from pipelines.nlp import DISABLED, MODEL_NAMES, _fast_pos, load_nlp
from pipelines.nlp_blas import use_blas_ops
from pipelines.nlp_embed import fold_embeddings

GOALS = {"replace_att": 0.90, "swap_att": 0.60, "synonym_negatives": 0, "keeps_category": 0.95}
SPEED_GOAL = 2000.0  # captions/s per core, parse included


def _label_at(caption: EvalCaption, token: int):
    return next((lb for lb in caption.attributes if lb.token == token), None)


def judge_replace(caption: EvalCaption, negative: Negative) -> str:
    """'valid', or why not: the edit must change one labelled attribute word into one word of its category."""
    edits = changes(caption.text, negative.text)
    if len(edits) != 1 or len(edits[0][1]) != 1:
        return "not_one_word"
    start, old, new = edits[0]
    label = _label_at(caption, start)
    if label is None:
        return "unlabelled_word"
    if len(new) != 1:
        return "not_one_word"
    if synonyms(old[0], new[0]):
        return "synonym"
    return "valid" if keeps_category(label.category, old[0], new[0]) else "left_category"


def judge_swap(caption: EvalCaption, negative: Negative) -> str:
    """'valid' when the negative exchanges two labelled attribute words of different nouns, nothing else."""
    edits = [e for e in changes(caption.text, negative.text) if e[1] or e[2]]
    words = [(s, o, n) for s, o, n in edits if len(o) == 1 and len(n) == 1]
    if len(words) != 2 or len(edits) != 2:
        return "not_a_swap"
    (s1, o1, n1), (s2, o2, n2) = words
    first, second = _label_at(caption, s1), _label_at(caption, s2)
    if first is None or second is None or first.noun == second.noun:
        return "unlabelled_word"
    if (o1, o2) != (n2, n1):
        return "not_a_swap"
    return "synonym" if synonyms(o1[0], o2[0]) else "valid"


def evaluate(captions: Sequence[EvalCaption], config: NegativesConfig) -> dict:
    results = generate_negatives_many([c.text for c in captions], config)
    verdicts: dict[str, int] = {}
    replaced = swapped = counted = synonym = kept = replacements = 0
    for caption, negatives in zip(captions, results, strict=True):
        got_replace = got_swap = False
        for n in negatives:
            judge = judge_replace if n.kind == "replace-att" else judge_swap if n.kind == "swap-att" else None
            verdict = judge(caption, n) if judge else "valid"
            verdicts[f"{n.kind}:{verdict}"] = verdicts.get(f"{n.kind}:{verdict}", 0) + 1
            synonym += verdict == "synonym"
            if n.kind == "replace-att" and verdict in {"valid", "left_category"}:
                replacements += 1
                kept += verdict == "valid"
            got_replace |= n.kind == "replace-att" and verdict == "valid"
            got_swap |= n.kind == "swap-att" and verdict == "valid"
        replaced += got_replace and bool(caption.attributes)
        swapped += got_swap and caption.two_nouns
        counted += any(n.kind == "replace-count" for n in negatives) and any(
            lb.category == "count" for lb in caption.labels
        )
    with_attr = sum(bool(c.attributes) for c in captions)
    with_two = sum(c.two_nouns for c in captions)
    with_count = sum(any(lb.category == "count" for lb in c.labels) for c in captions)
    return {
        "captions": len(captions),
        "with_attribute": with_attr,
        "with_two_attributed_nouns": with_two,
        "replace_att": round(replaced / max(with_attr, 1), 4),
        "swap_att": round(swapped / max(with_two, 1), 4),
        "synonym_negatives": synonym,
        "keeps_category": round(kept / max(replacements, 1), 4),
        "replace_count_on_numerals": round(counted / max(with_count, 1), 4),
        "verdicts": dict(sorted(verdicts.items())),
    }


def _spacy_pipeline(build: Callable[[Any], Any]) -> Any:
    spacy = importlib.import_module("spacy")
    for name in MODEL_NAMES:
        try:
            return build(spacy.load(name, exclude=list(DISABLED)))
        except OSError:
            continue
    raise OSError("no spaCy English pipeline")


def _blis_pipeline() -> Any:
    """The same pipeline as `load_nlp`, its layers left on thinc's NumpyOps (blis sgemm): the before of the ops."""
    return _spacy_pipeline(lambda nlp: _fast_pos(fold_embeddings(nlp)))


def _stock_pipeline() -> Any:
    """spaCy's own components on `NumpyBlasOps`: its attribute ruler (a Matcher per doc) and its hash embeddings
    unfolded, i.e. the parse before `PosRules` and `fold_embeddings`."""
    return _spacy_pipeline(use_blas_ops)


def _cpu_seconds(run: Callable[[list[str]], object], captions: list[str], chunk: int, frozen: bool = True) -> float:
    """CPU seconds of this process for `run` over `captions` in chunks, with the heap frozen as `prepare_rules` leaves
    it, or (`frozen=False`) unfrozen, as it was before `prepare_rules` froze it."""
    if not frozen:
        gc.unfreeze()
    start = time.process_time()
    for i in range(0, len(captions), chunk):
        run(captions[i : i + chunk])
    seconds = time.process_time() - start
    if not frozen:
        gc.collect()
        gc.freeze()
    return seconds


def speed(captions: list[str], repeats: int, config: NegativesConfig, blis: Any, stock: Any, chunk: int) -> dict:
    """Median CPU seconds of this process (per core, whatever else the machine runs), interleaved per repeat, in
    chunks of `chunk` captions (the dataset's batch): parse + rules for each structure ("pos", the default, and
    "dep", spaCy's parser), parse + rules with the heap not frozen, the "pos" parse alone, and spaCy's `nlp.pipe`
    alone on NumpyBlasOps, on thinc's blis NumpyOps, and with spaCy's stock attribute ruler and embeddings. No parse
    is cached across captions, so a repeated caption is parsed again."""
    dep = replace(config, parse="dep")
    runs: dict[str, tuple[Callable[[list[str]], object], bool]] = {
        "captions_per_s_per_core": (lambda c: generate_negatives_many(c, config), True),
        "dep_captions_per_s_per_core": (lambda c: generate_negatives_many(c, dep), True),
        "not_frozen_captions_per_s_per_core": (lambda c: generate_negatives_many(c, config), False),
        "parse_only_captions_per_s_per_core": (lambda c: parse_captions(c, batch_size=chunk), True),
        "spacy_pipe_blas_ops_per_s_per_core": (lambda c: list(load_nlp().pipe(c, batch_size=chunk)), True),
        "spacy_pipe_blis_ops_per_s_per_core": (lambda c: list(blis.pipe(c, batch_size=chunk)), True),
        "spacy_pipe_stock_per_s_per_core": (lambda c: list(stock.pipe(c, batch_size=chunk)), True),
    }
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(repeats):
        for name, (run, frozen) in runs.items():
            times[name].append(_cpu_seconds(run, captions, chunk, frozen))
    found = {k: round(len(captions) / median(v), 1) for k, v in times.items()}
    return {"captions": len(captions), "distinct": len(set(captions)), "chunk": chunk, **found}


def _examples(captions: Sequence[EvalCaption], config: NegativesConfig, k: int = 12) -> list[str]:
    results = generate_negatives_many([c.text for c in captions[:k]], config)
    return [
        f"{c.text} -> " + " / ".join(f"{n.kind}: {n.text}" for n in negs)
        for c, negs in zip(captions, results, strict=False)
    ]


def _table(quality: dict, speeds: dict) -> list[str]:
    lines = [
        "| generator | replace-att (goal >= 90%) | swap-att (goal >= 60%) | synonym negatives (goal 0) | "
        "keeps category (goal >= 95%) | replace-count on numerals |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, q in quality.items():
        lines.append(
            f"| {name} | {q['replace_att']:.1%} | {q['swap_att']:.1%} | {q['synonym_negatives']} | "
            f"{q['keeps_category']:.1%} | {q['replace_count_on_numerals']:.1%} |"
        )
    lines += [
        "",
        "| captions | n | distinct | batch | captions/s per core (parse + rules) | with parse=dep | heap not "
        "frozen | parse alone | spaCy pipe, NumpyBlasOps | spaCy pipe, blis NumpyOps | spaCy pipe, stock ruler + "
        "embeddings | pipe speedup |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {k} | {v['captions']} | {v['distinct']} | {v['chunk']} | {v['captions_per_s_per_core']} | "
        f"{v['dep_captions_per_s_per_core']} | {v['not_frozen_captions_per_s_per_core']} | "
        f"{v['parse_only_captions_per_s_per_core']} | {v['spacy_pipe_blas_ops_per_s_per_core']} | "
        f"{v['spacy_pipe_blis_ops_per_s_per_core']} | {v['spacy_pipe_stock_per_s_per_core']} | "
        f"{v['spacy_pipe_blas_ops_per_s_per_core'] / v['spacy_pipe_stock_per_s_per_core']:.2f}x |"
        for k, v in speeds.items()
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--generated", type=int, default=10000, help="size of the generated caption file")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=RetrievalNegativesConfig().batch_size, help="captions per call")
    args = parser.parse_args()
    held_out = load_eval()
    config = NegativesConfig()
    blis, stock = _blis_pipeline(), _stock_pipeline()
    frozen = prepare_rules(config.open_vocabulary)  # what the dataset does once per worker, not per caption
    quality = {
        "open vocabulary (WordNet), parse=pos": evaluate(held_out, config),
        "open vocabulary (WordNet), parse=dep": evaluate(held_out, replace(config, parse="dep")),
        "curated vocabulary only, parse=pos": evaluate(held_out, replace(config, open_vocabulary=False)),
    }
    open_q = quality["open vocabulary (WordNet), parse=pos"]
    met = {k: (open_q[k] == 0 if k == "synonym_negatives" else open_q[k] >= goal) for k, goal in GOALS.items()}
    texts = [c.text for c in held_out]
    distinct = list(dict.fromkeys(generated_captions(args.generated, seed=0)))  # the per-core figure: no repeats
    speeds = {
        "held_out": speed(texts * 10, args.repeats, config, blis, stock, args.chunk),
        "generated": speed(distinct, args.repeats, config, blis, stock, args.chunk),
    }
    met["captions_per_s_per_core_2000"] = speeds["generated"]["captions_per_s_per_core"] >= SPEED_GOAL
    result = {
        "load_average_1min": round(os.getloadavg()[0], 2),  # this machine's load while it ran (2 cores, shared)
        "command": f"python -m benchmarks.negatives --generated {args.generated} --repeats {args.repeats} "
        f"--chunk {args.chunk}",
        "objects_frozen": frozen,
        "held_out": {"file": "benchmarks/data/negatives_eval_captions.txt", **quality},
        "goals_met": met,
        "speed": speeds,
        "examples": _examples(held_out, config),
    }
    lines = [
        f"# retrieval_negatives: {len(held_out)} held-out hand-labelled captions, judged by benchmarks/negatives_judge.py",
        "",
        *_table(quality, speeds),
        "",
        "Goals met: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in met.items()),
        f"Load average while it ran: {result['load_average_1min']} on {os.cpu_count()} cores (CPU time per process).",
        f"Objects frozen by prepare_rules: {frozen} (gc.freeze after loading spaCy, the vocabulary and WordNet).",
    ]
    write_result("negatives", result, "\n".join(lines))
    print("\n".join(lines))
    print(json.dumps(result, indent=1)[:4000])


if __name__ == "__main__":
    main()
