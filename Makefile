# Two commands do all set-up: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
OUTPUT ?= output/demo

.PHONY: demo test check-java clean

check-java:
	@command -v java >/dev/null 2>&1 || { echo "error: Java 17 or newer is required (no 'java' on PATH); install a JDK 17, e.g. apt-get install openjdk-17-jdk-headless"; exit 1; }
	@v=$$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1); \
	  [ -n "$$v" ] && [ "$$v" -ge 17 ] || { echo "error: Java 17 or newer is required (found: $$(java -version 2>&1 | head -1))"; exit 1; }

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

demo: check-java $(VENV)/.installed
	$(PY) -m w2v_spark train --config conf/demo.toml --output $(OUTPUT)
	@echo
	@echo "Nearest neighbours (cosine), skip-gram ($(OUTPUT)/sgns):"
	@$(PY) -m w2v_spark similar --embeddings $(OUTPUT)/sgns freedom war money god sword america father
	@echo
	@echo "Nearest neighbours (cosine), PPMI-SVD ($(OUTPUT)/ppmi_svd):"
	@$(PY) -m w2v_spark similar --embeddings $(OUTPUT)/ppmi_svd freedom war money god sword america father
	@echo
	$(PY) -m w2v_spark evaluate --embeddings $(OUTPUT)
	$(PY) -m w2v_spark report --run $(OUTPUT)
	@echo
	@echo "Output: $(OUTPUT)  (sgns/ and ppmi_svd/ embeddings, evaluation.json, report/index.html)"

test: check-java $(VENV)/.installed
	$(PY) -m pytest

clean:
	rm -rf $(VENV) output .pytest_cache
