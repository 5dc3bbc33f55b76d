"""The text-to-image chain on the shapes corpus: the teacher, its pruned UNet, and step- and guidance-distilled students.

``t2i_teacher`` -> ``unet_pruned`` (BK-SDM); ``t2i_teacher`` -> ``unet_step_distilled_16`` -> ``_8`` -> ``_4``
(progressive distillation, each stage's teacher the previous stage); ``t2i_teacher`` -> ``unet_cfg_distilled`` (one
guided evaluation per step) -> ``unet_cfg_step_distilled_16`` -> ``_8`` -> ``_4`` (step stages of the guided student,
as unet_cfg_distill's docstring composes them). Every asset runs ``shardsmith train`` through ``launch_training``.
"""

from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Config,
    MaterializeResult,
    PipesSubprocessClient,
    asset,
)

from assets.checks import check_result
from assets.resources import StorageResource
from assets.training.launch import TRAINING_RETRY, TrainingResource, launch_training, trainer_settings

STEP_STAGES = (16, 8, 4)  # the teacher samples in 32 steps (t2i_teacher's sample_steps); each stage halves them
NEAR_TEACHER = "its samples on fixed noise and prompts, from the saved pipelines, are within max_mse of its teacher's"
FIDELITY = (
    "the share of its samples (from the saved pipeline, fixed noise, one per corpus colour x shape prompt) whose colour "
    "the shapes_classifier names as the prompt's is at least min_fidelity (chance: 1/6)"
)
# Bounds the demo's budgets clear and a broken student (random UNet, wrong teacher) does not; set them per run.
DEFAULT_MAX_MSE = 0.02
DEFAULT_MIN_FIDELITY = 0.3  # chance is 1/6; a random-weight UNet scores about chance
FINAL_STAGE = STEP_STAGES[-1]  # prompt_fidelity runs on the teacher and the chain's end models: pruned, 4-step students


class FidelityConfig(Config):
    """``min_fidelity``: prompt_fidelity's floor on the share of samples in the prompt's colour; ``fidelity_warn``:
    a share under it is reported with severity WARN instead of ERROR (the floor and the figure stay in the check's
    result), for budgets known to be too small to reach it, such as the demo's."""

    min_fidelity: float = DEFAULT_MIN_FIDELITY
    fidelity_warn: bool = False


class TeacherTrainConfig(FidelityConfig):
    """``steps`` and ``batch_size``: the training budget (the demo's: tiny); ``settings``: other trainer keys as JSON;
    ``guidance`` and ``check_steps``: how prompt_fidelity samples (two-evaluation CFG)."""

    steps: int = 150
    batch_size: int = 16
    settings: str = "{}"
    guidance: float = 4.0
    check_steps: int = 32


class StudentTrainConfig(FidelityConfig):
    """``max_mse``: the near_teacher bound (mean squared pixel error in [0, 1]); ``guidance``: its CFG scale; a
    step-distilled student samples in its own steps, its teacher in twice as many."""

    steps: int = 40
    batch_size: int = 8
    settings: str = "{}"
    max_mse: float = DEFAULT_MAX_MSE
    guidance: float = 4.0
    check_steps: int = 8  # the checks' DDIM steps for a student that samples in any number (pruned, guided)


class PrunedTrainConfig(StudentTrainConfig):
    """``max_param_fraction``: params_reduced's bound on the pruned UNet's parameters over the teacher's (BK-base
    keeps about two thirds of the tiny teacher's)."""

    max_param_fraction: float = 0.8
    max_mse: float = 0.05


def _train(
    context: AssetExecutionContext,
    training: TrainingResource,
    pipes: PipesSubprocessClient,
    trainer: str,
    name: str,
    data: list[str],
    settings: dict[str, Any],
    **parents: str,
) -> MaterializeResult:
    out = training.model_dir(name)
    return launch_training(context, pipes, training.command(trainer, data, out, settings, **parents), out)


def _with_checks(result: MaterializeResult, checks: list[AssetCheckResult]) -> MaterializeResult:
    """``launch_training``'s result with the asset's own checks after its loss_fell."""
    return MaterializeResult(
        metadata=result.metadata,
        check_results=[*(result.check_results or []), *checks],
        data_version=result.data_version,
    )


def fidelity_check(
    model: Path, training: TrainingResource, config: TeacherTrainConfig | StudentTrainConfig
) -> AssetCheckResult:
    """prompt_fidelity of a saved pipeline against the ``shapes_classifier`` asset's model directory, at the severity
    ``fidelity_warn`` chooses."""
    from pipelines.checks.diffusion import prompt_fidelity

    classifier = training.model_dir("shapes_classifier")
    outcome = prompt_fidelity(model, classifier, config.min_fidelity, config.guidance, config.check_steps)
    return check_result(outcome, AssetCheckSeverity.WARN if config.fidelity_warn else AssetCheckSeverity.ERROR)


def _specs(name: str, *extra: tuple[str, str]) -> list[AssetCheckSpec]:
    checks = [("loss_fell", "The loss fell during training."), *extra]
    return [AssetCheckSpec(check, asset=name, description=text) for check, text in checks]


@asset(
    group_name="training",
    deps=[AssetKey("shapes_corpus"), AssetKey("shapes_classifier")],
    kinds={"pytorch", "diffusers"},
    retry_policy=TRAINING_RETRY,
    check_specs=_specs("t2i_teacher", ("prompt_fidelity", FIDELITY)),
    description="A tiny pixel-space text-to-image diffusers pipeline trained on the shapes train split.",
)
def t2i_teacher(
    context: AssetExecutionContext,
    config: TeacherTrainConfig,
    storage: StorageResource,
    training: TrainingResource,
    pipes: PipesSubprocessClient,
) -> MaterializeResult:
    settings = trainer_settings(
        config.settings, steps=config.steps, batch_size=config.batch_size, eval_data=storage.dataset_url("shapes/test")
    )
    data = [storage.dataset_url("shapes/train")]
    result = _train(context, training, pipes, "t2i_teacher", "t2i_teacher", data, settings)
    return _with_checks(result, [fidelity_check(training.model_dir("t2i_teacher"), training, config)])


@asset(
    group_name="training",
    deps=[AssetKey("shapes_corpus"), AssetKey("t2i_teacher"), AssetKey("shapes_classifier")],
    kinds={"pytorch", "diffusers"},
    retry_policy=TRAINING_RETRY,
    check_specs=_specs(
        "unet_pruned",
        ("params_reduced", "the saved UNet, loaded with diffusers, has at most max_param_fraction of the teacher's"),
        ("near_teacher", NEAR_TEACHER),
        ("prompt_fidelity", FIDELITY),
    ),
    description="The teacher's UNet with BK-SDM block removal, retrained with feature distillation from it.",
)
def unet_pruned(
    context: AssetExecutionContext,
    config: PrunedTrainConfig,
    storage: StorageResource,
    training: TrainingResource,
    pipes: PipesSubprocessClient,
) -> MaterializeResult:
    from pipelines.checks.diffusion import near_teacher, params_reduced

    settings = trainer_settings(
        config.settings, steps=config.steps, batch_size=config.batch_size, eval_data=storage.dataset_url("shapes/test")
    )
    teacher, out = training.model_dir("t2i_teacher"), training.model_dir("unet_pruned")
    data = [storage.dataset_url("shapes/train")]
    result = _train(context, training, pipes, "unet_prune", "unet_pruned", data, settings, teacher=str(teacher))
    checks = [
        params_reduced(out, teacher, config.max_param_fraction),
        near_teacher(out, teacher, config.max_mse, config.guidance, config.check_steps),
    ]
    return _with_checks(result, [*(check_result(c) for c in checks), fidelity_check(out, training, config)])


def distilled_asset(
    name: str, trainer: str, teacher_name: str, base: dict[str, Any], description: str, fidelity: bool = False
):
    """One distillation stage: ``trainer`` with ``--teacher`` the model directory of asset ``teacher_name``, then its
    near_teacher check against that teacher (and, with ``fidelity``, prompt_fidelity)."""
    extra = [("prompt_fidelity", FIDELITY)] if fidelity else []

    @asset(
        name=name,
        group_name="training",
        deps=[
            AssetKey("shapes_corpus"),
            AssetKey(teacher_name),
            *([AssetKey("shapes_classifier")] if fidelity else []),
        ],
        kinds={"pytorch", "diffusers"},
        retry_policy=TRAINING_RETRY,
        check_specs=_specs(name, ("near_teacher", NEAR_TEACHER), *extra),
        description=description,
    )
    def stage(
        context: AssetExecutionContext,
        config: StudentTrainConfig,
        storage: StorageResource,
        training: TrainingResource,
        pipes: PipesSubprocessClient,
    ) -> MaterializeResult:
        from pipelines.checks.diffusion import near_teacher

        settings = trainer_settings(config.settings, steps=config.steps, batch_size=config.batch_size, **base)
        teacher, out = training.model_dir(teacher_name), training.model_dir(name)
        data = [storage.dataset_url("shapes/train")]
        result = _train(context, training, pipes, trainer, name, data, settings, teacher=str(teacher))
        checks = [check_result(near_teacher(out, teacher, config.max_mse, config.guidance, config.check_steps))]
        checks += [fidelity_check(out, training, config)] if fidelity else []
        return _with_checks(result, checks)

    return stage


def step_chain(prefix: str, first_teacher: str, guided: bool) -> list[AssetsDefinition]:
    """The stages 32 -> 16 -> 8 -> 4: asset ``{prefix}_{n}`` distils ``{prefix}_{2n}`` (the first: ``first_teacher``)."""
    stages, teacher = [], first_teacher
    for n in STEP_STAGES:
        how = "guided (w an input)" if guided else "the teacher's CFG baked in"
        text = f"Progressive distillation: {n} DDIM steps of one evaluation ({how}) do {teacher}'s {2 * n}."
        base = {"target_steps": n}
        stages.append(distilled_asset(f"{prefix}_{n}", "unet_step_distill", teacher, base, text, n == FINAL_STAGE))
        teacher = f"{prefix}_{n}"
    return stages


unet_cfg_distilled = distilled_asset(
    "unet_cfg_distilled",
    "unet_cfg_distill",
    "t2i_teacher",
    {},
    "Guidance distillation: one evaluation per step at any CFG scale w (an input) gives the teacher's two-evaluation "
    "CFG output.",
)
unet_step_distilled = step_chain("unet_step_distilled", "t2i_teacher", guided=False)
unet_cfg_step_distilled = step_chain("unet_cfg_step_distilled", "unet_cfg_distilled", guided=True)
