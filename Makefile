# shardsmith: `make demo` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install demo test test-all test-gpu lint format bench ui clean

# torch first: `torch==2.13.0` takes the local CPU wheel; installed later by a resolver, pip would fetch CUDA builds.
$(STAMP): pyproject.toml setup.py models/retrieval/_fp16_topk.c
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip check
	# MTCNN face detector with its weights in the wheel; --no-deps because its metadata pins torch<2.3 and numpy<2
	# (it runs on the installed torch 2.13 / numpy 2; tests/test_faces_* check that).
	$(PY) -m pip install -q --no-deps facenet-pytorch==2.6.0
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) -m dagster_project.demo

test: install
	$(PY) -m pytest -m "not gpu" $(PYTEST_ARGS)

test-gpu: install
	$(PY) -m pytest -m gpu $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# img2dataset's resizer is the ingest benchmark's reference. --no-deps: its metadata pins webdataset<0.3 and
# opencv-python-headless (a second cv2/); the resizer needs only cv2, numpy and albumentations 1.3 (and that, qudida).
bench: install
	$(PY) -m pip install -q --no-deps img2dataset==1.47.0 albumentations==1.3.1 qudida==0.0.4
	# faiss-cpu: the peer that benchmarks/retrieval_search.py measures the fp16 gallery index against.
	$(PY) -m pip install -q faiss-cpu==1.15.1
	$(PY) -m benchmarks.run

# The Dagster UI on 127.0.0.1:3000 (PORT=... to move it), with the demo's instance (runs, partitions) and the project's
# dagster.yaml. The launcher stops dagster dev and all it started on SIGTERM, SIGINT or SIGHUP, from a terminal or a
# supervisor; `exec` puts it in the shell's place, so the SIGTERM that make passes on to its recipe reaches it.
UI_HOME := $(CURDIR)/.dagster_home
ui: install
	exec $(PY) -m dagster_project.ui --home $(UI_HOME) --port $${PORT:-3000}

clean:
	rm -rf demo_out .dagster_home .pytest_cache benchmarks/results/*.tmp
