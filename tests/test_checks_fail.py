"""Every asset check fails on a shard broken in the way it guards against, and passes on the same shard unbroken."""

from __future__ import annotations

from pathlib import Path

import pytest
from checks_data import ingest_shards, jpeg, source_members, with_json, write_records, write_tar

from pipelines.checks.accounting import accounting, source_input_keys, tar_keys
from pipelines.checks.contract import contract
from pipelines.checks.negatives import audit_record, validity
from pipelines.datasets import build_shard, make_dataset
from pipelines.sources.base import SourceShard
from pipelines.store.layout import DatasetDir
from pipelines.validate import validate_dataset

# ---- accounting ----


def test_accounting_passes_when_rows_name_every_source_sample(tmp_path: Path) -> None:
    source, out = ingest_shards(tmp_path, {"00000": 3, "00001": 2})
    result = accounting(out.url, ["00000", "00001"], source_input_keys(source))
    assert result.passed, result.problems
    assert result.metadata["inputs"] == 5 and result.metadata["ok"] == 5


def test_accounting_fails_when_the_source_shard_holds_a_sample_no_row_names(tmp_path: Path) -> None:
    source, out = ingest_shards(tmp_path, {"00000": 3})
    write_tar(Path(source.uri) / "00000.tar", source_members(4))  # a sample the build never saw (a reader that drops)
    result = accounting(out.url, ["00000"], source_input_keys(source))
    assert not result.passed
    assert any("lost" in p and "s003" in p for p in result.problems)
    assert any("_stats.json says 3 inputs, the source shard holds 4" in p for p in result.problems)


def test_accounting_fails_on_a_row_whose_source_key_is_not_in_the_source(tmp_path: Path) -> None:
    source, out = ingest_shards(tmp_path, {"00000": 3})
    write_tar(Path(source.uri) / "00000.tar", source_members(2))
    result = accounting(out.url, ["00000"], source_input_keys(source))
    assert any("not in the source shard" in p and "s002" in p for p in result.problems)


def test_accounting_fails_on_a_shard_of_the_run_that_never_committed(tmp_path: Path) -> None:
    source, out = ingest_shards(tmp_path, {"00000": 2})
    result = accounting(out.url, ["00000", "00001"], source_input_keys(source))
    assert result.problems == ("00001: not committed (no _stats.json)",)


def test_tar_keys_groups_members_by_key_wherever_they_lie(tmp_path: Path) -> None:
    path = tmp_path / "x.tar"
    write_tar(path, [("a.jpg", b"1"), ("b.jpg", b"2"), ("a.txt", b"3"), ("d/c.x.json", b"4"), (".hidden.jpg", b"")])
    assert tar_keys(str(path)) == {"a", "b", "d/c"}


# ---- contract ----


def test_contract_judges_its_own_shards_while_another_run_commits(tmp_path: Path) -> None:
    source, out = ingest_shards(tmp_path, {"00000": 3})
    out.write_sizes()
    # Another run, at the same time: its shard 00001 committed but sizes.json not yet rewritten, and 00002's tar renamed
    # into place before its _stats.json.
    write_tar(Path(source.uri) / "00001.tar", source_members(2, start=3))
    build_shard(make_dataset("ingest", {}), source, SourceShard("00001", f"{source.uri}/00001.tar"), out)
    (Path(out.url) / "00002.tar").write_bytes((Path(out.url) / "00001.tar").read_bytes())
    assert not validate_dataset(out.url).ok  # the whole directory is mid-commit
    mine = contract(out.url, ["00000"])
    assert mine.passed, mine.problems
    theirs = contract(out.url, ["00001"])
    assert theirs.problems == ("00001: sizes.json lists None samples for 00001.tar, its stats say 2",)


def test_contract_fails_when_sizes_json_miscounts_the_runs_shard(tmp_path: Path) -> None:
    _, out = ingest_shards(tmp_path, {"00000": 3})
    out.write_json("sizes.json", {"00000.tar": 2})
    assert contract(out.url, ["00000"]).problems == (
        "00000: sizes.json lists 2 samples for 00000.tar, its stats say 3",
    )


def test_contract_fails_on_a_changed_tar_of_the_run(tmp_path: Path) -> None:
    _, out = ingest_shards(tmp_path, {"00000": 3})
    out.write_sizes()
    tar = Path(out.url) / "00000.tar"
    data = bytearray(tar.read_bytes())
    data[600] ^= 0xFF  # one byte of the first image, the size unchanged
    tar.write_bytes(bytes(data))
    assert any("tar checksum differs" in p for p in contract(out.url, ["00000"]).problems)


# ---- validity (retrieval_negatives) ----

POSITIVE = "a red car parked next to a blue bicycle"


def negative(kind: str, text: str, span: tuple[int, int]) -> dict:
    return {"kind": kind, "text": text, "span": list(span), "original": POSITIVE[span[0] : span[1]], "replacement": ""}


GOOD_NEGATIVES = [
    negative("replace-att", "a green car parked next to a blue bicycle", (2, 5)),
    negative("replace-att", "an orange car parked next to a blue bicycle", (0, 5)),
    negative("swap-att", "a blue car parked next to a red bicycle", (2, 31)),
    negative("replace-count", "two red cars parked next to a blue bicycle", (0, 9)),
]


def negatives_shard(tmp_path: Path, negatives: list[dict]) -> str:
    out = DatasetDir(str(tmp_path / "retrieval_negatives"))
    files = with_json({"jpg": jpeg(8, 8, (0, 0, 0))}, {"caption": POSITIVE, "negatives": negatives, "width": 8})
    write_records(out, "00000", [("k0", files)])
    return out.url


def test_validity_passes_real_generator_output() -> None:
    from pipelines.negatives import NegativesConfig, generate_negatives

    captions = [POSITIVE, "two dogs are playing on the grass", "a man in a black shirt holding an orange umbrella"]
    for caption in captions:
        found = generate_negatives(caption, NegativesConfig(n=6))
        record = {"caption": caption, "negatives": [vars(n) | {"span": list(n.span)} for n in found]}
        assert found and audit_record(record) == [], caption


def test_validity_passes_good_negatives(tmp_path: Path) -> None:
    result = validity(negatives_shard(tmp_path, GOOD_NEGATIVES), ["00000"])
    assert result.passed, result.problems
    assert result.metadata["kinds"] == {"replace-att": 2, "replace-count": 1, "swap-att": 1}


BROKEN_NEGATIVES = {
    "identical to the positive": negative("replace-att", "a red  car parked next to a blue bicycle", (2, 5)),
    "only an article changed": negative("replace-att", "an red car parked next to a blue bicycle", (0, 1)),
    "outside the recorded span": negative("replace-att", "a green car parked next to a blue tricycle", (2, 5)),
    "changes 2 places, not one": negative("replace-att", "a green car parked next to a pink bicycle", (2, 35)),
    "not a word": negative("replace-att", "a 4x4 car parked next to a blue bicycle", (2, 5)),
    "brings in words the positive does not have": negative(
        "swap-att", "a blue car parked next to a green bicycle", (2, 31)
    ),
    "changes 0 counts, not one": negative("replace-count", "a red truck parked next to a blue bicycle", (2, 9)),
    "more than the count and its agreement": negative(
        "replace-count", "two red vans parked next to a blue bicycle", (0, 9)
    ),
    "not a minimal edit": negative("replace-obj", "a small boat sailing far away from the old harbour", (0, 40)),
    "unknown kind": negative("replace-rel", "a red car parked behind a blue bicycle", (16, 23)),
}


@pytest.mark.parametrize("expected", sorted(BROKEN_NEGATIVES))
def test_validity_fails_on_a_broken_negative(tmp_path: Path, expected: str) -> None:
    result = validity(negatives_shard(tmp_path, [*GOOD_NEGATIVES, BROKEN_NEGATIVES[expected]]), ["00000"])
    assert not result.passed
    assert all("negatives[4]" in p for p in result.problems), result.problems
    assert any(expected in p for p in result.problems), result.problems


def test_validity_fails_on_a_repeated_negative(tmp_path: Path) -> None:
    repeat = negative("replace-att", "A GREEN car parked next to a blue bicycle", (0, 5))
    result = validity(negatives_shard(tmp_path, [*GOOD_NEGATIVES, repeat]), ["00000"])
    assert result.problems == (
        "00000/k0: negatives[4] (replace-att): repeats the positive or an earlier negative (ignoring case)",
    )
