"""`make bench`: run every benchmark in turn; each writes its figures to benchmarks/results/<name>.json and .md."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = [
    "benchmarks.ingest",
    "benchmarks.negatives",
    "benchmarks.ocr",
    "benchmarks.annotate",
    "benchmarks.validate_scale",
    "benchmarks.cli",
    "benchmarks.face_detect",
    "benchmarks.retrieval_search",
    "benchmarks.retrieval",
    "benchmarks.retrieval_floor",
    "benchmarks.diffusion",
]


def main() -> None:
    names = sys.argv[1:] or BENCHMARKS
    for name in names:
        print(f"== {name}", flush=True)
        module = importlib.import_module(name)
        sys.argv = [name]
        module.main()


if __name__ == "__main__":
    main()
