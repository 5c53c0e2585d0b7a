# Every target creates the virtual environment and installs the package when needed.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast install clean

$(STAMP): setup.cfg pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	PIP_CONSTRAINT=$(CURDIR)/constraints.txt PIP_BUILD_CONSTRAINT=$(CURDIR)/constraints.txt $(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/tf3dgan train --config configs/quickstart.yaml --out runs/quickstart
	$(BIN)/tf3dgan sample --run runs/quickstart --n 16 --out runs/quickstart/samples.npz
	$(BIN)/tf3dgan view runs/quickstart/samples.npz --out runs/quickstart/samples.html
	$(BIN)/tf3dgan view runs/quickstart/samples.npz --png --out runs/quickstart/samples.png
	@echo "Open runs/quickstart/samples.html in a browser (or look at runs/quickstart/samples.png) to see the generated shapes."

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

clean:
	rm -rf $(VENV) runs .pytest_cache
