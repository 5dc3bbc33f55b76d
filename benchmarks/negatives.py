"""retrieval_negatives rules: quality on held-out hand-labelled captions (benchmarks/data/), judged by
benchmarks/negatives_judge.py, open vocabulary against the curated vocabulary alone; and captions/s per core with the
parse included, on the held-out captions and a larger generated caption file (benchmarks/negatives_captions.py)."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.common import median, write_result
from benchmarks.negatives_captions import captions as generated_captions
from benchmarks.negatives_judge import EvalCaption, changes, keeps_category, load_eval, synonyms
from pipelines.datasets.retrieval_negatives import RetrievalNegativesConfig
from pipelines.negatives import Negative, NegativesConfig, generate_negatives_many
from pipelines.negatives.open_vocab import open_attribute
from pipelines.negatives.parse import parse_captions
from pipelines.nlp import DISABLED, MODEL_NAMES, _fast_pos, load_nlp
from pipelines.nlp_blas import fast_layer_norms, use_blas_ops
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
    return _spacy_pipeline(lambda nlp: _fast_pos(fold_embeddings(fast_layer_norms(nlp))))


def _stock_pipeline() -> Any:
    """spaCy's own components on `NumpyBlasOps`: its attribute ruler (a Matcher per doc) and its hash embeddings
    unfolded, i.e. the parse before `PosRules` and `fold_embeddings`."""
    return _spacy_pipeline(use_blas_ops)


def _runner(run: str, chunk: int) -> Callable[[list[str]], object]:
    """What one worker process measures, with only what it needs loaded (as a dataset worker loads it)."""
    config = NegativesConfig()
    if run in {"captions_per_s_per_core", "dep_captions_per_s_per_core", "parse_only_captions_per_s_per_core"}:
        load_nlp()
        open_attribute("red", "adj")  # loads WordNet: a one-off per worker, not per caption
    if run == "captions_per_s_per_core":
        return lambda c: generate_negatives_many(c, config)
    if run == "dep_captions_per_s_per_core":
        dep = replace(config, parse="dep")
        return lambda c: generate_negatives_many(c, dep)
    if run == "parse_only_captions_per_s_per_core":
        return lambda c: parse_captions(c, batch_size=chunk)
    nlp = {
        "spacy_pipe_blas_ops_per_s_per_core": load_nlp,
        "spacy_pipe_blis_ops_per_s_per_core": _blis_pipeline,
        "spacy_pipe_stock_per_s_per_core": _stock_pipeline,
    }[run]()
    return lambda c: list(nlp.pipe(c, batch_size=chunk))


RUNS = (
    "captions_per_s_per_core",
    "dep_captions_per_s_per_core",
    "parse_only_captions_per_s_per_core",
    "spacy_pipe_blas_ops_per_s_per_core",
    "spacy_pipe_blis_ops_per_s_per_core",
    "spacy_pipe_stock_per_s_per_core",
)


def _worker(run: str, captions_file: str, chunk: int) -> None:
    """One worker process: for each caption set, a first pass (the memos and caches warm, as a worker's are after
    its first shards) and then the timed pass, in chunks of `chunk` captions; prints CPU seconds per set as JSON."""
    sets = json.loads(Path(captions_file).read_text())
    measure = _runner(run, chunk)
    seconds: dict[str, float] = {}
    for name, captions in sets.items():
        for timed in (False, True):
            start = time.process_time()
            for i in range(0, len(captions), chunk):
                measure(captions[i : i + chunk])
            if timed:
                seconds[name] = time.process_time() - start
    print(json.dumps(seconds))


def speed(sets: dict[str, list[str]], repeats: int, chunk: int) -> dict[str, dict]:
    """Median CPU seconds of a worker process (per core, whatever else the machine runs), each configuration in a
    fresh process of its own with only its pipeline loaded, interleaved per repeat, in chunks of `chunk` captions
    (the dataset's batch): parse + rules for each structure ("pos", the default, and "dep", spaCy's parser), the
    "pos" parse alone, and spaCy's `nlp.pipe` (parser included) on NumpyBlasOps, on thinc's blis NumpyOps, and with
    spaCy's stock attribute ruler and embeddings. No parse is cached across captions, so a repeated caption is
    parsed again."""
    times: dict[str, dict[str, list[float]]] = {name: {run: [] for run in RUNS} for name in sets}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "captions.json"
        path.write_text(json.dumps(sets))
        for _ in range(repeats):
            for run in RUNS:
                command = [sys.executable, "-m", "benchmarks.negatives", "--worker", run, "--captions", str(path)]
                done = subprocess.run([*command, "--chunk", str(chunk)], capture_output=True, text=True, check=True)
                for name, seconds in json.loads(done.stdout.strip().splitlines()[-1]).items():
                    times[name][run].append(seconds)
    return {
        name: {
            "captions": len(sets[name]),
            "distinct": len(set(sets[name])),
            "chunk": chunk,
            **{run: round(len(sets[name]) / median(v), 1) for run, v in runs.items()},
        }
        for name, runs in times.items()
    }


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
        "| captions | n | distinct | batch | captions/s per core (parse + rules) | with parse=dep | parse alone | "
        "spaCy pipe, NumpyBlasOps | spaCy pipe, blis NumpyOps | spaCy pipe, stock ruler + embeddings | pipe "
        "speedup |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {k} | {v['captions']} | {v['distinct']} | {v['chunk']} | {v['captions_per_s_per_core']} | "
        f"{v['dep_captions_per_s_per_core']} | "
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
    parser.add_argument("--worker", choices=RUNS, help=argparse.SUPPRESS)  # one measuring process (see `speed`)
    parser.add_argument("--captions", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker, args.captions, args.chunk)
        return
    held_out = load_eval()
    config = NegativesConfig()
    quality = {
        "open vocabulary (WordNet), parse=pos": evaluate(held_out, config),
        "open vocabulary (WordNet), parse=dep": evaluate(held_out, replace(config, parse="dep")),
        "curated vocabulary only, parse=pos": evaluate(held_out, replace(config, open_vocabulary=False)),
    }
    open_q = quality["open vocabulary (WordNet), parse=pos"]
    met = {k: (open_q[k] == 0 if k == "synonym_negatives" else open_q[k] >= goal) for k, goal in GOALS.items()}
    texts = [c.text for c in held_out]
    distinct = list(dict.fromkeys(generated_captions(args.generated, seed=0)))  # the per-core figure: no repeats
    speeds = speed({"held_out": texts * 10, "generated": distinct}, args.repeats, args.chunk)
    met["captions_per_s_per_core_2000"] = speeds["generated"]["captions_per_s_per_core"] >= SPEED_GOAL
    result = {
        "load_average_1min": round(os.getloadavg()[0], 2),  # this machine's load while it ran (2 cores, shared)
        "command": f"python -m benchmarks.negatives --generated {args.generated} --repeats {args.repeats} "
        f"--chunk {args.chunk}",
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
    ]
    write_result("negatives", result, "\n".join(lines))
    print("\n".join(lines))
    print(json.dumps(result, indent=1)[:4000])


if __name__ == "__main__":
    main()
