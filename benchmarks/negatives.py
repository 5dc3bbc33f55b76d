"""retrieval_negatives rules: captions per second per core, and the share of captions that get at least one valid negative,
on the sample source's captions and on a larger generated caption file (benchmarks/negatives_captions.py)."""

from __future__ import annotations

import argparse
import json
import time

from benchmarks.common import median, write_result
from benchmarks.negatives_captions import captions as generated_captions
from pipelines.negatives import NegativesConfig, attribute_words, generate_negatives_many
from pipelines.negatives.audit import audit_record
from pipelines.nlp import load_nlp
from pipelines.sources.sample_data import PHOTOS, TEXT_SIGNS


def measure(captions: list[str], repeats: int, chunk: int = 256) -> dict:
    config = NegativesConfig()
    times, results = [], []
    for _ in range(repeats):
        start = time.process_time()  # CPU time of this process: per core, whatever else the machine runs
        results = [
            neg
            for i in range(0, len(captions), chunk)
            for neg in generate_negatives_many(captions[i : i + chunk], config)
        ]
        times.append(time.process_time() - start)
    with_attr = [i for i, c in enumerate(captions) if attribute_words(c)]
    valid = [
        i
        for i, negs in enumerate(results)
        if negs and not audit_record({"caption": captions[i], "negatives": [_as_dict(n) for n in negs]})
    ]
    replace_att = [i for i in with_attr if any(n.kind == "replace-att" for n in results[i])]
    return {
        "captions": len(captions),
        "cpu_s_median": round(median(times), 3),
        "captions_per_s_per_core": round(len(captions) / median(times), 1),
        "share_with_valid_negative": round(len(valid) / len(captions), 4),
        "share_of_attributed_with_replace_att": round(len(replace_att) / max(len(with_attr), 1), 4),
        "negatives_per_caption": round(sum(map(len, results)) / len(captions), 3),
    }


def _as_dict(n) -> dict:
    return {"text": n.text, "kind": n.kind, "span": list(n.span), "original": n.original, "replacement": n.replacement}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--generated", type=int, default=20000, help="size of the generated caption file")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    load_nlp()  # loading spaCy is a one-off per worker, not per caption
    sample = [c for _, _, c, _ in PHOTOS] + [
        base + ", with the words " + ", ".join(f'"{t}"' for t in lines) for lines, _, base in TEXT_SIGNS
    ]
    generated = list(generated_captions(args.generated, seed=0))
    figures = {"sample_source": measure(sample, args.repeats), "generated": measure(generated, args.repeats)}
    result = {
        "command": f"make bench  (python -m benchmarks.negatives --generated {args.generated} --repeats {args.repeats})",
        "figures": figures,
    }
    lines = [
        f"# retrieval_negatives rules, median CPU time of {args.repeats} runs (spaCy parse included)",
        "",
        "| captions | n | captions/s per core | share with a valid negative | attributed captions with replace-att |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {k} | {v['captions']} | {v['captions_per_s_per_core']} | {v['share_with_valid_negative']:.1%} | "
        f"{v['share_of_attributed_with_replace_att']:.1%} |"
        for k, v in figures.items()
    ]
    write_result("negatives", result, "\n".join(lines))
    print("\n".join(lines))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
