# Two-command quick start: `make demo` and `make test` on a machine with only Python 3 and make.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test test-slow screenshots bench calibrate accuracy calibrate-and-report clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/llmsizer estimate --model llama-3.1-8b --hardware h100 --batch 8 --input 1024 --output 256

# The suite without the tests marked slow (long calibration and fuzz profiles); `.ci/run` runs
# them too, with `make test-slow`.
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -m "not slow"

test-slow: $(VENV)/.installed-test
	$(BIN)/python -m pytest -m slow || [ $$? -eq 5 ]  # 5: no test is marked slow

# Refresh the page screenshots in docs/images from the browser tests (needs chromium).
screenshots: $(VENV)/.installed-test
	LLMSIZER_SCREENSHOTS=$(CURDIR)/docs/images $(BIN)/python -m pytest tests/test_web.py

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_predict.py
	$(BIN)/python benchmarks/bench_sweep.py

# Serve the web app on http://127.0.0.1:8501 (docs/web.md).
.PHONY: app
app: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[web]'
	$(BIN)/llmsizer app

# Refit the shipped levels on the shipped measurements (profiles/fitted/levels.yaml).
calibrate: $(VENV)/.installed
	$(BIN)/python -m llmsizer.calibration.calibrate src/llmsizer/data/profiles/fitted

# Regenerate docs/accuracy.md and docs/accuracy.png from the shipped measurements.
accuracy: $(VENV)/.installed
	$(BIN)/python -m llmsizer.calibration.report docs

# Both from one calibration run (the cross-validations take most of the time).
calibrate-and-report: $(VENV)/.installed
	$(BIN)/python -m llmsizer.calibration.report docs src/llmsizer/data/profiles/fitted

clean:
	rm -rf $(VENV) build src/*.egg-info
