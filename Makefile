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

# Two pytest-xdist workers: most tests are single-threaded Python (tracing, small graphs), so two processes
# finish 1.7x sooner on a 2-core machine. TEST_WORKERS=auto uses every core; TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

test: $(STAMP)
	$(PYTEST)

test-fast: $(STAMP)
	$(PYTEST) -m "not slow"

clean:
	rm -rf $(VENV) runs .pytest_cache
