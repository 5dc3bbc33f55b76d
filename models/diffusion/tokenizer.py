"""A transformers `CLIPTokenizer` built offline from the CLIP BPE vocabulary shipped in open_clip's wheel."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import open_clip
from open_clip.tokenizer import bytes_to_unicode
from transformers import CLIPTokenizer

FULL_MERGES = 49152 - 256 - 2  # the merges open_clip's SimpleTokenizer reads (48894)
BOS, EOS = "<|startoftext|>", "<|endoftext|>"


def bpe_vocab_path() -> Path:
    """The gzipped CLIP BPE merges file inside the installed open_clip package."""
    return Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz"


def read_merges(n_merges: int = FULL_MERGES) -> list[tuple[str, str]]:
    """The first `n_merges` BPE merges (pairs of byte-level unicode symbols), in rank order."""
    if not 0 <= n_merges <= FULL_MERGES:
        raise ValueError(f"n_merges must be in [0, {FULL_MERGES}], got {n_merges}")
    with gzip.open(bpe_vocab_path(), "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    return [tuple(line.split()) for line in lines[1 : n_merges + 1]]


def clip_vocab(merges: list[tuple[str, str]]) -> dict[str, int]:
    """token -> id in open_clip's order: 256 bytes, the same with `</w>`, one token per merge, then BOS and EOS."""
    symbols = list(bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges] + [BOS, EOS]
    return {tok: i for i, tok in enumerate(tokens)}


def write_clip_bpe_files(out_dir: Path, n_merges: int = FULL_MERGES) -> tuple[Path, Path]:
    """Write `vocab.json` and `merges.txt` (CLIPTokenizer's format, `#version` header) into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    merges = read_merges(n_merges)
    vocab_file, merges_file = out_dir / "vocab.json", out_dir / "merges.txt"
    vocab_file.write_text(json.dumps(clip_vocab(merges), ensure_ascii=False), encoding="utf-8")
    body = "\n".join(" ".join(m) for m in merges)
    merges_file.write_text("#version: 0.2\n" + body + "\n", encoding="utf-8")
    return vocab_file, merges_file


def build_clip_tokenizer(work_dir: Path, n_merges: int = FULL_MERGES, max_length: int = 77) -> CLIPTokenizer:
    """A slow `CLIPTokenizer` (pad = EOS, as SD 1.x) over the first `n_merges` merges; vocab size 512 + n_merges + 2."""
    vocab_file, merges_file = write_clip_bpe_files(work_dir, n_merges)
    return CLIPTokenizer(
        vocab_file=str(vocab_file),
        merges_file=str(merges_file),
        bos_token=BOS,
        eos_token=EOS,
        unk_token=EOS,
        pad_token=EOS,
        model_max_length=max_length,
    )
