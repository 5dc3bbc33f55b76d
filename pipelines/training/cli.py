"""``shardsmith train`` and ``shardsmith trainers``: the same ``run(spec)`` that the Dagster training assets launch."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click


@click.command()
@click.argument("name")
@click.option("--data", "data", multiple=True, required=True, help="Dataset directory (repeatable; the first trains).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="The model directory to write.")
@click.option("--teacher", type=click.Path(file_okay=False), help="A committed model directory to distil from.")
@click.option("--from", "parent", type=click.Path(file_okay=False), help="A committed model directory to start from.")
@click.option(
    "--config", "config_file", type=click.Path(exists=True, dir_okay=False), help="JSON file with the config."
)
@click.option("--set", "sets", multiple=True, help="Override one config key: --set steps=500 (value parsed as JSON).")
@click.option("--overwrite", is_flag=True, help="Replace a model of another run (config, data, parents) in OUT.")
def train(
    name: str,
    data: tuple[str, ...],
    out: str,
    teacher: str | None,
    parent: str | None,
    config_file: str | None,
    sets: tuple[str, ...],
    overwrite: bool,
) -> None:
    """Train NAME on DATA into OUT; an uncommitted OUT resumes from its last checkpoint. Under Dagster Pipes (a training
    asset launched it) every logged step streams back to the run; under `accelerate launch` it runs on every process."""
    from pipelines.cli import _parse_sets
    from pipelines.training.run import TrainSpec, run

    config = json.loads(Path(config_file).read_text()) if config_file else {}
    config.update(_parse_sets(sets))
    spec = TrainSpec(name, data, out, config, teacher, parent)
    with _reporter() as on_log:
        model_dir = run(spec, on_log=on_log, overwrite=overwrite)
    card = model_dir.card()
    click.echo(f"{name} -> {model_dir.path}: {card['steps']} steps, {json.dumps(card['final_metrics'])}")


class _reporter:
    """``on_log`` for ``run``: each metrics row to Dagster Pipes when launched through it, else to stderr."""

    def __enter__(self):
        from dagster_pipes import PipesEnvVarParamsLoader, open_dagster_pipes

        rank = int(os.environ.get("RANK", "0"))  # under `accelerate launch` only the main process reports
        if rank != 0 or not PipesEnvVarParamsLoader().is_dagster_pipes_process():
            self._pipes = None
            return lambda row: click.echo(json.dumps(row, sort_keys=True), err=True)
        self._context = open_dagster_pipes()
        self._pipes = self._context.__enter__()
        pipes = self._pipes

        def on_log(row: dict) -> None:
            pipes.report_custom_message(row)
            pipes.log.info(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))

        return on_log

    def __exit__(self, *exc: object) -> None:
        if self._pipes is not None:
            self._context.__exit__(*exc)


@click.command("trainers")
@click.option("--json", "as_json", is_flag=True, help="Print each trainer's description and default config as JSON.")
def trainers(as_json: bool) -> None:
    """List what can be trained, with each trainer's default config."""
    from pipelines.training.registry import trainer_class, trainer_names

    described = [trainer_class(n).describe() for n in trainer_names()]
    if as_json:
        click.echo(json.dumps(described, indent=1))
        return
    for d in described:
        click.echo(f"{d['name']:<22} {d['description']}")
