"""The composition root: assets, checks, jobs, sensors and resources configured from the environment."""

from dagster import AssetSelection, Definitions, define_asset_job, load_assets_from_package_module

import assets
from assets.face_attributes import face_review_exports_sensor
from assets.partitions import source_shards
from assets.resources import resources_from_env
from assets.training.launch import training_resources
from dagster_project.schedules import nightly_backfill_schedule
from dagster_project.sensors import source_shards_sensor

# Every asset module under assets/ (one per asset group) is picked up; their checks come with them.
all_assets = load_assets_from_package_module(assets)

all_assets_job = define_asset_job("all_assets", selection=AssetSelection.all(), partitions_def=source_shards)

defs = Definitions(
    assets=all_assets,
    jobs=[all_assets_job],
    sensors=[source_shards_sensor, face_review_exports_sensor],
    schedules=[nightly_backfill_schedule],
    resources={**resources_from_env(), **training_resources()},
)
