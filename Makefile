# Every target creates the virtual environment and installs the package when needed.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast install clean

$(STAMP): setup.cfg setup.py pyproject.toml constraints.txt
	@echo "Installing tf3dgan and its dependencies into $(VENV) (the first time: a few minutes)"
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@PIP_CONSTRAINT=$(CURDIR)/constraints.txt PIP_BUILD_CONSTRAINT=$(CURDIR)/constraints.txt $(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/tf3dgan train --config configs/quickstart.yaml --out runs/quickstart
	$(BIN)/tf3dgan sample --run runs/quickstart --n 16 --out runs/quickstart/samples.npz
	$(BIN)/tf3dgan view runs/quickstart/samples.npz --out runs/quickstart/samples.html
	$(BIN)/tf3dgan view runs/quickstart/samples.npz --png --out runs/quickstart/samples.png
	@echo "Open runs/quickstart/samples.html in a browser (or look at runs/quickstart/samples.png) to see the generated shapes."

# Three pytest-xdist workers on a 2-core machine: each test process runs TensorFlow on one thread per pool
# (tests/conftest.py) and many tests wait on a process they started, so a third worker fills those waits
# (7 min 44 s against 8 min 38 s with two on the same tree, oneDNN capped at AVX2). TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 3
PYTEST := $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

test: $(STAMP)
	$(PYTEST)

test-fast: $(STAMP)
	$(PYTEST) -m "not slow"

clean:
	rm -rf $(VENV) runs .pytest_cache
