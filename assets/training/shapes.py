"""The shapes corpus (train, test and general splits) and the ``shapes_classifier`` model trained on it."""

from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    Config,
    DataVersion,
    MaterializeResult,
    PipesSubprocessClient,
    asset,
)

from assets.resources import StorageResource
from assets.training.launch import TRAINING_RETRY, TrainingResource, launch_training, trainer_settings
from pipelines.loaders import open_shards
from pipelines.sources.shapes import ShapesConfig, write_shapes_source


class ShapesCorpusConfig(Config):
    n: int = 2000
    test_n: int = 400
    general_n: int = 400  # the general split (other colours and shapes): replay data for the student's LwF
    seed: int = 0
    size: int = 64
    shards: int = 4


@asset(
    group_name="training",
    kinds={"webdataset"},
    description="Rendered scenes of coloured shapes: train, test, and a general split of other colours and shapes.",
)
def shapes_corpus(config: ShapesCorpusConfig, storage: StorageResource) -> MaterializeResult:
    urls = {}
    splits = (("train", config.n, 0), ("test", config.test_n, 1), ("general", config.general_n, 2))
    for split, n, offset in splits:
        urls[split] = storage.dataset_url(f"shapes/{split}")
        write_shapes_source(
            urls[split],
            ShapesConfig(n=n, seed=config.seed + offset, split=split, size=config.size, shards=config.shards),
        )
    shards = {split: open_shards(url) for split, url in urls.items()}
    version = "-".join(shards[s].checksum()[:12] for s, _, _ in splits)
    return MaterializeResult(
        metadata={f"{s}_samples": shards[s].total for s in shards} | {"train_url": urls["train"]},
        data_version=DataVersion(version),
    )


class TrainRunConfig(Config):
    """Overrides of the trainer's config, as JSON (``{"steps": 500}``)."""

    settings: str = "{}"


@asset(
    group_name="training",
    deps=[AssetKey("shapes_corpus")],
    kinds={"pytorch"},
    retry_policy=TRAINING_RETRY,
    check_specs=[AssetCheckSpec("loss_fell", asset="shapes_classifier", description="The loss fell during training.")],
    description="A small CNN naming the shapes, colours, patterns, sizes and object count of a shapes scene.",
)
def shapes_classifier(
    context: AssetExecutionContext,
    config: TrainRunConfig,
    storage: StorageResource,
    training: TrainingResource,
    pipes: PipesSubprocessClient,
) -> MaterializeResult:
    settings = trainer_settings(config.settings, eval_data=storage.dataset_url("shapes/test"))
    out = training.model_dir("shapes_classifier")
    command = training.command("shapes_classifier", [storage.dataset_url("shapes/train")], out, settings)
    return launch_training(context, pipes, command, out)
