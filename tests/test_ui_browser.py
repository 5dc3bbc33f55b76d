"""The Dagster UI in a real browser: every dataset's asset page shows its preview image and its reasons table, and one
partition materializes from the UI. Playwright drives Debian's headless chromium; the UI is `make ui`'s launcher."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance
from dagster._core.instance.ref import InstanceRef

from pipelines.processes import free_port, processes_with_env

# Debian's `chromium` package: /usr/bin/chromium is a wrapper script, this is the browser binary it runs.
CHROMIUM = os.environ.get("SHARDSMITH_CHROMIUM", "/usr/lib/chromium/chromium")
DATASETS = {"ingest", "personalization", "text_rendering", "face_attributes", "retrieval_negatives"}
# Built before the UI starts, in one run (so each preview draws from both shards: every dataset has ok samples in them),
# and the partition materialized from the UI.
BUILT, FROM_UI = ("00000", "00001"), "00002"
REPO = Path(__file__).resolve().parents[1]
MARK = "SHARDSMITH_TEST_UI_RUN"  # in the launcher's environment, so in that of everything it starts

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install '.[dev]')")
sync_api.expect.set_options(timeout=60_000)  # a loaded CI machine renders slowly; a missing element still fails
pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.access(CHROMIUM, os.X_OK),
        reason=f"no chromium at {CHROMIUM}: `apt-get install chromium` (.ci/run does), or set SHARDSMITH_CHROMIUM",
    ),
]


@dataclass(frozen=True)
class UI:
    url: str
    home: Path
    root: Path
    env: dict[str, str]


def _materialize_all(env: dict[str, str], home: Path, partitions: tuple[str, str]) -> None:
    """Every dataset asset for the range ``partitions`` in one run, in this process, recorded in the instance at ``home``
    (as `make demo` does)."""
    from dagster import materialize
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    from assets.partitions import source_shards
    from assets.resources import resources_from_env
    from dagster_project.definitions import defs

    resources = resources_from_env(env)
    instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    instance.add_dynamic_partitions(source_shards.name, [s.shard for s in resources["source"].shards()])
    tags = {ASSET_PARTITION_RANGE_START_TAG: partitions[0], ASSET_PARTITION_RANGE_END_TAG: partitions[1]}
    # the dataset assets (the training group trains models on its own corpus: not what this test looks at)
    datasets = [a for a in defs.assets if set(a.group_names_by_key.values()) != {"training"}]
    result = materialize(datasets, instance=instance, resources=resources, tags=tags)
    assert result.success


@pytest.fixture(scope="module")
def ui(sample_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UI]:
    """`make ui`'s launcher on a fresh instance in which every asset has been materialized for the partitions BUILT.

    The launcher starts first, so that the UI loads while the assets build; what they record shows up in it live."""
    from dagster_project.server import wait_until_loaded

    base = tmp_path_factory.mktemp("ui")
    home, root, port, mark = base / "dagster_home", base / "storage", free_port(), uuid.uuid4().hex
    home.mkdir()
    shutil.copy(REPO / "dagster_project" / "dagster.yaml", home / "dagster.yaml")
    env = {"SHARDSMITH_SOURCE": str(sample_source), "SHARDSMITH_ROOT": str(root), "DAGSTER_HOME": str(home)}
    launcher = [sys.executable, "-m", "dagster_project.ui", "--home", str(home), "--port", str(port)]
    with open(base / "ui.log", "wb") as log:
        proc = subprocess.Popen(
            launcher,
            cwd=REPO,
            env={**os.environ, **env, "PYTHONPATH": str(REPO), MARK: mark},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        _materialize_all(env, home, BUILT)
        wait_until_loaded(f"http://127.0.0.1:{port}", 300, proc, str(base / "ui.log"))
        yield UI(f"http://127.0.0.1:{port}", home, root, env)
    finally:
        proc.send_signal(signal.SIGTERM)  # as a supervisor stops `make ui`; nothing it started may outlive it
        try:
            proc.wait(30)
        finally:
            print((base / "ui.log").read_text(errors="replace")[-4000:])
            left = processes_with_env(MARK, mark)
            for pid in left:
                os.kill(pid, signal.SIGKILL)
        assert not left, f"left running after the launcher stopped: {left}"


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: sync_api.Browser) -> Iterator[sync_api.Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    # the community sign-up dialog that the UI opens on a first visit: dismissed whenever it shows up
    skip = page.get_by_role("button", name="Skip")
    page.add_locator_handler(skip, lambda: skip.click())
    yield page
    context.close()


def _instance(ui: UI) -> DagsterInstance:
    return DagsterInstance.from_ref(InstanceRef.from_dir(str(ui.home)))


def _latest_metadata(ui: UI) -> dict[str, dict]:
    """Asset name -> the metadata of its latest materialization, as the instance recorded it."""
    from dagster_project.definitions import defs

    instance = _instance(ui)
    latest = {}
    for key in defs.resolve_all_asset_keys():
        event = instance.get_latest_materialization_event(key)
        if event is not None:
            latest[key.to_user_string()] = event.asset_materialization.metadata
    return latest


def _metadata_row(page: sync_api.Page, label: str) -> sync_api.Locator:
    """The row of the asset page's metadata table whose key is ``label``."""
    return page.locator("tr", has=page.get_by_text(label, exact=True)).first


@pytest.mark.timeout(900)
def test_each_dataset_page_shows_its_preview_and_reasons(ui: UI, page: sync_api.Page):
    latest = _latest_metadata(ui)
    datasets = sorted(name for name, metadata in latest.items() if "preview" in metadata)
    assert set(datasets) >= DATASETS, datasets
    for name in datasets:
        page.goto(f"{ui.url}/assets/{name}")
        # the reasons table, row for row as the materialization recorded it
        table = _metadata_row(page, "reasons").locator("table")
        sync_api.expect(table.locator("thead th")).to_have_text(["status", "reason", "count"])
        shown = [tuple(row.locator("td").all_inner_texts()) for row in table.locator("tbody tr").all()]
        recorded = [
            (r.data["status"], r.data["reason"], str(r.data["count"])) for r in latest[name]["reasons"].value.records
        ]
        assert shown == recorded, name
        # the preview: the recorded contact sheet, decoded and drawn by the browser
        recorded_image = re.search(r"\]\((data:image/jpeg;base64,[^)]+)\)", latest[name]["preview"].value)
        assert recorded_image, f"{name} recorded no preview image (no ok sample in {BUILT}?): {latest[name]['preview']}"
        _metadata_row(page, "preview").get_by_text("[Show Markdown]").click()
        image = page.get_by_role("dialog").locator("img")
        sync_api.expect(image).to_be_visible()
        assert image.get_attribute("src") == recorded_image.group(1), name
        width, height = image.evaluate("img => [img.complete && img.naturalWidth, img.naturalHeight]")
        assert width > 0 and height > 0, f"{name}: the preview image did not decode"
        page.get_by_role("dialog").get_by_role("button", name="Close").click()
        print(f"{name}: preview {width}x{height}, {len(shown)} reason row(s)")


@pytest.mark.timeout(900)
def test_materialize_one_partition_from_the_ui(ui: UI, page: sync_api.Page):
    from pipelines.store import DatasetDir

    page.goto(f"{ui.url}/assets/ingest")
    page.get_by_role("button", name="Materialize…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Select a partition or create one").click()
    page.get_by_role("menuitem", name=FROM_UI).click()
    page.keyboard.press("Escape")  # closes the partition menu, not the dialog
    dialog.get_by_role("button", name="Launch 1 run").click()
    launched = page.get_by_text(re.compile(r"^Launched run [0-9a-f]{8}$")).first
    sync_api.expect(launched).to_be_visible()
    run_id = launched.inner_text().split()[-1]
    page.locator(f'a[href^="/runs/{run_id}"]').first.click()  # the toast's "View"
    sync_api.expect(page).to_have_url(re.compile(rf"/runs/{run_id}"))
    sync_api.expect(page.get_by_text(f"partition: {FROM_UI}").first).to_be_visible()
    status = page.get_by_text(re.compile(r"^(Success|Failure|Canceled)$")).first
    sync_api.expect(status).to_be_visible(timeout=600_000)
    assert status.inner_text() == "Success"
    # what the UI reported is what happened: the instance has the run's materialization, the shard has committed
    event = _instance(ui).get_latest_materialization_event(AssetKey("ingest"))
    assert (event.run_id[:8], event.asset_materialization.partition) == (run_id, FROM_UI)
    assert FROM_UI in DatasetDir(str(ui.root / "ingest")).done_shards()
