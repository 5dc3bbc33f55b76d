"""``make demo``: materialize every asset on the bundled sample source, then validate and draw a contact sheet of each."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

# The retrieval chain at a demo budget (the trainers' own defaults are the real run's): an open_clip teacher (a BLIP one
# distils through B x B matching passes a step, too slow for the demo) and the student, 100 steps each.
DEMO_TRAINING = {"cpu_threads": 1, "batch_size": 32, "log_every": 10, "checkpoint_every": 50, "warmup_steps": 10}
# The text-to-image chain at 8 px, a demo budget: the teacher 400 steps of 32 at lr 2e-3 (UNet channels 16/32/32), the
# students 40 steps each, their final metrics on 2 prompts (the pruned student's in 8 steps, its analysis on the units
# only). No budget of a few minutes gets a teacher whose samples follow their colour prompts (benchmarks/diffusion.py's
# 16 px teacher was at about twice chance after 1000 steps and follows them after 4000), so the chain's prompt_fidelity
# checks keep their floor and report a share under it as WARN (fidelity_warn); the other checks must pass.
T2I = {"cpu_threads": 1, "log_every": 10, "checkpoint_every": 250}
STUDENT = {**T2I, "eval_prompts": 2, "warmup_steps": 0}
T2I_TEACHER = {**T2I, "resolution": 8, "block_out_channels": [16, 32, 32], "lr": 2e-3, "eval_samples": 32}
PRUNE = {**T2I, "resolution": 8, "analysis": "units", "calib_prompts": 4, "latency_repeats": 1, "eval_samples": 16,
         "sample_steps": 8}  # fmt: skip
WARN = {"fidelity_warn": True}
DEMO_RUN_CONFIG = {
    "ops": {
        "retrieval_teacher": {"config": {"settings": json.dumps({**DEMO_TRAINING, "kind": "open_clip", "steps": 100})}},
        "retrieval_student": {"config": {"settings": json.dumps({**DEMO_TRAINING, "steps": 100})}},
        # prompt_fidelity's judge, at benchmarks/diffusion.py's classifier budget (1500 steps)
        "shapes_classifier": {"config": {"settings": json.dumps({"image_size": 16, "steps": 1500, "cpu_threads": 1})}},
        "t2i_teacher": {"config": {"steps": 400, "batch_size": 32, "settings": json.dumps(T2I_TEACHER), **WARN}},
        "unet_pruned": {"config": {"steps": 40, "batch_size": 16, "settings": json.dumps(PRUNE), **WARN}},
        "unet_cfg_distilled": {
            "config": {"steps": 40, "batch_size": 16, "settings": json.dumps({**STUDENT, "sample_steps": 8})}
        },
        **{
            f"{chain}_{n}": {
                "config": {"steps": 40, "batch_size": 16, "settings": json.dumps(STUDENT), **(WARN if n == 4 else {})}
            }
            for chain in ("unet_step_distilled", "unet_cfg_step_distilled")
            for n in (16, 8, 4)
        },
    }
}
CHECK_FIGURES = ("before", "after", "fidelity_colour", "floor", "mse", "max_mse", "fraction", "max")
RETRIEVAL_FIGURES = ("i2t_r@1", "t2i_r@1", "t2i_r@10", "replace-att_acc", "swap-att_acc", "replace-count_acc")
T2I_MODELS = (
    "t2i_teacher", "unet_pruned", "unet_step_distilled_4", "unet_cfg_distilled", "unet_cfg_step_distilled_4",
)  # fmt: skip


def run_config(assets: list) -> dict:
    """DEMO_RUN_CONFIG for the selected assets only (Dagster rejects config of ops outside the run)."""
    names = {key.to_user_string() for a in assets for key in a.keys}
    return {"ops": {op: c for op, c in DEMO_RUN_CONFIG["ops"].items() if op in names}}


def _prepare_env(out: Path) -> None:
    os.environ.setdefault("SHARDSMITH_SOURCE", str(out / "source"))
    os.environ.setdefault("SHARDSMITH_ROOT", str(out / "storage"))
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path(".dagster_home").resolve())))
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(Path(__file__).with_name("dagster.yaml"), home / "dagster.yaml")


def main() -> int:
    out = Path(os.environ.get("SHARDSMITH_DEMO_DIR", "demo_out")).resolve()
    _prepare_env(out)
    from dagster import AssetCheckSeverity, DagsterInstance, materialize
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    from assets.partitions import source_shards
    from dagster_project.definitions import defs
    from pipelines.sources.sample_source import write_sample_source
    from pipelines.store import ShardReader
    from pipelines.validate import validate_dataset

    source, root = os.environ["SHARDSMITH_SOURCE"], os.environ["SHARDSMITH_ROOT"]
    if not Path(source).exists():
        print(f"writing the bundled sample source to {source}")
        write_sample_source(source)
    resources = defs.resources
    shards = [s.shard for s in resources["source"].shards()]
    instance = DagsterInstance.get()
    known = set(instance.get_dynamic_partitions(source_shards.name))
    instance.add_dynamic_partitions(source_shards.name, [s for s in shards if s not in known])
    selected = list(defs.assets)  # every asset, the text-to-image chain included
    start = time.perf_counter()
    result = materialize(
        selected,
        instance=instance,
        resources=resources,
        run_config=run_config(selected),
        tags={ASSET_PARTITION_RANGE_START_TAG: shards[0], ASSET_PARTITION_RANGE_END_TAG: shards[-1]},
    )
    print(
        f"\nmaterialized {len(selected)} of {len(defs.assets)} asset(s) x {len(shards)} partitions in {time.perf_counter() - start:.1f}s "
        f"(run {result.run_id}, Dagster home {os.environ['DAGSTER_HOME']})"
    )
    ok = result.success
    for check in result.get_asset_check_evaluations():
        print(f"  {check_line(check)}")
        ok &= check.passed or check.severity == AssetCheckSeverity.WARN
    from pipelines.store import DatasetDir

    for asset in defs.assets:
        name = asset.key.to_user_string()
        url = f"{root}/{name}"
        if not DatasetDir(url).done_shards():
            continue  # an asset that is not a dataset directory (review tasks)
        report = validate_dataset(url)
        sheet = out / f"{name}_grid.png"
        _grid(ShardReader(url), sheet)
        print(
            f"{name}: {url}  [{report.shards} shards, {report.samples} samples, validate {'OK' if report.ok else 'INVALID'}]"
        )
        print(f"  contact sheet: {sheet}")
        ok &= report.ok
    _print_retrieval(Path(resources["training"].models_root))
    _print_t2i(Path(resources["training"].models_root))
    print(
        f"\nlook closer:  .venv/bin/shardsmith stats {root}/ingest   |   .venv/bin/shardsmith show {root}/personalization KEY --out x.png"
        "   |   make ui  (the runs above are in its history)"
    )
    return 0 if ok else 1


def check_line(check) -> str:
    """One check's verdict (passed; FAILED; WARN: failed, at severity WARN) and the figures it judged (a loss before
    and after, a share and its floor, an MSE and its bound)."""
    from dagster import AssetCheckSeverity

    figures = [
        f"{k} {check.metadata[k].value:.4g}"
        for k in CHECK_FIGURES
        if k in check.metadata and isinstance(check.metadata[k].value, int | float)
    ]
    verdict = "passed" if check.passed else "WARN" if check.severity == AssetCheckSeverity.WARN else "FAILED"
    return f"check {check.asset_key.to_user_string()}:{check.check_name}: {verdict}" + (
        f"  [{', '.join(figures)}]" if figures else ""
    )


def _print_retrieval(models: Path) -> None:
    """The retrieval models' held-out figures (their cards' final metrics) and where the index is."""
    from pipelines.training.card import ModelDir

    for name in ("retrieval_teacher", "retrieval_student"):
        model = ModelDir(models / name)
        if model.committed():
            metrics = model.card()["final_metrics"]
            figures = "  ".join(f"{k} {metrics[k]:.3f}" for k in RETRIEVAL_FIGURES if k in metrics)
            print(f"{name}: {model.path}  [{int(metrics['eval_samples'])} test images: {figures}]")
    index = models / "retrieval_index"
    if (index / "index.json").exists():
        meta = json.loads((index / "index.json").read_text())
        size = (index / "index.safetensors").stat().st_size
        print(f"retrieval_index: {index}  [{meta['count']} x {meta['dim']} fp16, {size} bytes]")
        print(f'  search it:  .venv/bin/shardsmith search {index} "a small red circle" --k 8 --out hits.png')


def _print_t2i(models: Path) -> None:
    """The text-to-image chain's committed models: UNet parameters, how they sample, and a generate command."""
    from pipelines.checks.diffusion import unet_params
    from pipelines.training.card import ModelDir
    from pipelines.training.unet_distill import chain_sampling

    shown = None
    for name in T2I_MODELS:
        model = ModelDir(models / name)
        if not model.committed():
            continue
        sampler = chain_sampling(model.path)
        steps = f"{sampler.steps} steps" if sampler.steps else "any steps"
        evals = "1 evaluation" if sampler.guided or sampler.baked_guidance is not None else "2 evaluations (CFG)"
        print(f"{name}: {model.path}  [UNet {unet_params(model.path)} params, {steps} of {evals}]")
        shown = shown or model.path
    if shown is not None:
        final = models / "unet_cfg_step_distilled_4"
        example = final if ModelDir(final).committed() else shown
        print(
            f'  generate:  .venv/bin/shardsmith generate {example} --prompt "a large plain red circle in the center" --n 4 --out gen'
        )


def _grid(reader, path: Path) -> None:
    from pipelines.cli import pick_samples
    from pipelines.draw import contact_sheet, draw_record, load_image

    samples = pick_samples(reader, 16, None)
    if samples:
        contact_sheet([(draw_record(load_image(s.files), s.record), s.key) for s in samples]).save(path)


if __name__ == "__main__":
    sys.exit(main())
