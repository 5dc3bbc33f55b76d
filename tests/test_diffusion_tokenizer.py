"""The offline CLIP BPE tokenizer: open_clip's ids, truncated vocabularies, save/load."""

from __future__ import annotations

import pytest

from models.diffusion.tokenizer import FULL_MERGES, CLIPTokenizer, build_clip_tokenizer, read_merges

PROMPTS = ["a red circle and a blue square", "Two GREEN triangles, left of a yellow star!", "photo of 3 cats' toys"]


def test_full_vocab_ids_equal_open_clip(tmp_path):
    from open_clip.tokenizer import SimpleTokenizer  # after models (torchvision compat)

    tok = build_clip_tokenizer(tmp_path)
    ref = SimpleTokenizer()
    assert len(tok) == 49408
    for prompt in PROMPTS:
        expected = [i for i in ref(prompt)[0].tolist() if i != 0]
        assert tok(prompt).input_ids == expected, prompt


def test_truncated_vocab_saves_and_loads(tmp_path):
    tok = build_clip_tokenizer(tmp_path / "build", n_merges=1000, max_length=16)
    assert len(tok) == 512 + 1000 + 2
    assert tok.bos_token_id == 1512 and tok.eos_token_id == tok.pad_token_id == 1513
    tok.save_pretrained(tmp_path / "saved")
    loaded = CLIPTokenizer.from_pretrained(tmp_path / "saved", local_files_only=True)
    batch = loaded(PROMPTS, padding="max_length", max_length=16, truncation=True).input_ids
    assert batch == tok(PROMPTS, padding="max_length", max_length=16, truncation=True).input_ids
    assert all(len(ids) == 16 and max(ids) < len(tok) for ids in batch)


def test_fewer_merges_split_words_into_more_tokens(tmp_path):
    small = build_clip_tokenizer(tmp_path / "s", n_merges=200)
    full = build_clip_tokenizer(tmp_path / "f")
    assert len(small("triangles").input_ids) > len(full("triangles").input_ids)


def test_merge_count_is_checked():
    assert len(read_merges(10)) == 10
    with pytest.raises(ValueError):
        read_merges(FULL_MERGES + 1)
