"""Deployment settings that the README states: the retry delays Dagster really waits, the gpu pool taken only on a GPU,
and the one model cache (weights included)."""

from __future__ import annotations

from pathlib import Path

import fsspec
import pytest
from dagster import (
    Backoff,
    DagsterEventType,
    Failure,
    Jitter,
    MaterializeResult,
    RetryPolicy,
    job,
    op,
)

from assets.common import DATASET_RETRY, GPU_POOL, dataset_asset, run_settings

# ---- retries ----


def test_dagster_waits_2_to_the_n_minus_1_times_the_delay_plus_minus_the_delay() -> None:
    """A real run of an op that fails 3 times under the dataset policy's backoff and jitter (delay scaled to 50 ms):
    the waits Dagster's executor records for retries 1, 2 and 3."""
    attempts: list[int] = []
    policy = RetryPolicy(max_retries=3, delay=0.05, backoff=DATASET_RETRY.backoff, jitter=DATASET_RETRY.jitter)

    @op(retry_policy=policy)
    def flaky() -> None:
        attempts.append(1)
        if len(attempts) <= 3:
            raise OSError("storage blip")

    @job
    def retried() -> None:
        flaky()

    result = retried.execute_in_process()
    waits = [
        e.event_specific_data.seconds_to_wait
        for e in result.all_events
        if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY
    ]
    assert result.success and len(waits) == 3
    for n, wait in enumerate(waits, start=1):
        centre = (2**n - 1) * 0.05
        assert centre - 0.05 <= wait <= centre + 0.05, (n, wait)


@pytest.mark.parametrize(("retry", "low", "centre", "high"), [(1, 0, 15, 30), (2, 30, 45, 60), (3, 90, 105, 120)])
def test_the_dataset_retry_policy_waits_what_the_readme_says(
    monkeypatch: pytest.MonkeyPatch, retry: int, low: float, centre: float, high: float
) -> None:
    import dagster._core.definitions.policy as policy

    assert (DATASET_RETRY.max_retries, DATASET_RETRY.delay) == (3, 15)
    assert (DATASET_RETRY.backoff, DATASET_RETRY.jitter) == (Backoff.EXPONENTIAL, Jitter.PLUS_MINUS)
    for draw, expected in ((0.0, low), (0.5, centre), (1.0, high)):
        monkeypatch.setattr(policy, "random", lambda draw=draw: draw)
        assert DATASET_RETRY.calculate_delay(retry) == pytest.approx(expected)


# ---- the gpu pool ----


def _asset(gpu: bool):
    def text_rendering(context) -> MaterializeResult:  # unannotated: Dagster checks the annotation at definition
        return MaterializeResult()

    return dataset_asset("text_rendering", group="g", kinds={"beam"}, description="d", gpu=gpu)(text_rendering)


@pytest.mark.parametrize(("device", "pool"), [(None, None), ("cpu", None), ("cuda", GPU_POOL), ("cuda:1", GPU_POOL)])
def test_a_model_asset_takes_the_gpu_pool_only_on_a_gpu(monkeypatch: pytest.MonkeyPatch, device, pool) -> None:
    if device is None:
        monkeypatch.delenv("SHARDSMITH_DEVICE", raising=False)
    else:
        monkeypatch.setenv("SHARDSMITH_DEVICE", device)
    assert _asset(gpu=True).op.pool == pool
    assert _asset(gpu=False).op.pool is None


def test_the_shipped_model_assets_hold_no_pool_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHARDSMITH_DEVICE", raising=False)
    from assets.face_attributes import face_attributes
    from assets.personalization import personalization
    from assets.text_rendering import text_rendering

    assert [a.op.pool for a in (text_rendering, face_attributes, personalization)] == [None, None, None]


def test_run_settings_give_the_dataset_the_deployments_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHARDSMITH_DEVICE", "cuda")
    assert run_settings("text_rendering", {}, GPU_POOL) == {"device": "cuda"}
    assert run_settings("ingest", {"max_side": 64}, None) == {"max_side": 64}  # no device to give
    monkeypatch.setenv("SHARDSMITH_DEVICE", "cpu")
    assert run_settings("text_rendering", {}, None) == {"device": "cpu"}
    with pytest.raises(Failure, match="holds no 'gpu' pool slot"):
        run_settings("personalization", {"device": "cuda"}, None)


# ---- one cache ----


def test_every_model_cache_is_one_function(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import models.faces.clip_labeler as clip
    import models.ocr.model_dirs as ocr
    import models.tiny as tiny
    from models.cache import cache_root

    assert tiny.cache_root is clip.cache_root is ocr.cache_root is cache_root
    monkeypatch.delenv("SHARDSMITH_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_root() == tmp_path / ".cache" / "shardsmith"
    monkeypatch.setenv("SHARDSMITH_CACHE", "~/elsewhere")
    assert cache_root() == tmp_path / "elsewhere"
    assert cache_root(tmp_path / "given") == tmp_path / "given"


def test_remote_weights_are_copied_into_the_configured_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from models.registry import resolve_checkpoint

    fsspec.filesystem("memory").pipe("/bucket/sam_vit_h.pth", b"weights")
    monkeypatch.setenv("SHARDSMITH_CACHE", str(tmp_path / "cache"))
    local = resolve_checkpoint("memory://bucket/sam_vit_h.pth")
    assert local.read_bytes() == b"weights"
    assert local.parent.parent == tmp_path / "cache" / "weights"
    assert resolve_checkpoint("memory://bucket/sam_vit_h.pth", cache_dir=tmp_path / "other").is_relative_to(
        tmp_path / "other"
    )
