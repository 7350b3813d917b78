# Two commands do all set-up: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
OUTPUT ?= output/demo

# `make dist`: the wheel and the executors' environment archive (see README "Running on a cluster").
# The archive holds the wheel and its dependencies except pyspark (the cluster's Spark provides it),
# plus DIST_EXTRAS (numba by default, so that `sgns.kernel = "auto"` finds the same kernel on the
# driver and the executors).
DIST_EXTRAS ?= numba
SOURCES := pyproject.toml $(shell find w2v_spark -name '*.py' -o -name '*.gz' -o -name '*.txt' -o -name '*.tsv')

.PHONY: demo test dist check-java clean

check-java:
	@command -v java >/dev/null 2>&1 || { echo "error: Java 17 or newer is required (no 'java' on PATH); install a JDK 17, e.g. apt-get install openjdk-17-jdk-headless"; exit 1; }
	@v=$$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1); \
	  [ -n "$$v" ] && [ "$$v" -ge 17 ] || { echo "error: Java 17 or newer is required (found: $$(java -version 2>&1 | head -1))"; exit 1; }

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# The demo needs the package, the compiled kernel and matplotlib (the report); the tests add
# pytest, chispa and gensim on top.
$(VENV)/.installed-demo: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[numba,report]'
	touch $@

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-demo

# What the demo prints (neighbours, then the evaluation table) is saved to $(OUTPUT)/demo.txt and
# must be what README.md shows: tools/readme_demo.py fails the demo when they differ.
demo: check-java $(VENV)/.installed-demo
	$(PY) -m w2v_spark train --config conf/demo.toml --output $(OUTPUT)
	@{ echo "skip-gram ($(OUTPUT)/sgns)"; \
	  $(PY) -m w2v_spark similar --embeddings $(OUTPUT)/sgns freedom war money god sword america father; \
	  echo "PPMI-SVD ($(OUTPUT)/ppmi_svd)"; \
	  $(PY) -m w2v_spark similar --embeddings $(OUTPUT)/ppmi_svd freedom war money god sword america father; \
	  echo; \
	  $(PY) -m w2v_spark evaluate --embeddings $(OUTPUT); } > $(OUTPUT)/demo.txt
	@cat $(OUTPUT)/demo.txt
	$(PY) -m w2v_spark report --run $(OUTPUT)
	@echo
	@echo "Output: $(OUTPUT)  (sgns/ and ppmi_svd/ embeddings, evaluation.json, report/index.html)"
	@$(PY) tools/readme_demo.py check $(OUTPUT)/demo.txt

test: check-java $(VENV)/.installed
	$(PY) -m pytest

dist: dist/w2v_env.tar.gz

dist/w2v_env.tar.gz: $(VENV)/.installed $(SOURCES)
	rm -rf dist build/env
	$(PY) -m pip wheel --quiet --no-deps --wheel-dir dist .
	$(PYTHON) -m venv build/env
	build/env/bin/python -m pip install --quiet --upgrade pip
	build/env/bin/python -m pip install --quiet --no-deps dist/w2v_spark-*.whl
	build/env/bin/python -m pip install --quiet $$($(PY) -c 'import sys, tomllib; \
	  p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
	  extras = [d for e in sys.argv[1:] for d in p["optional-dependencies"][e]]; \
	  print(" ".join(d for d in p["dependencies"] + extras if not d.startswith("pyspark")))' $(DIST_EXTRAS))
	$(PY) -m pip install --quiet venv-pack
	$(VENV)/bin/venv-pack --prefix build/env --output $@.partial --format tar.gz --compress-level 1
	mv $@.partial $@
	@ls -l dist

clean:
	rm -rf $(VENV) .venv-airflow output build dist .pytest_cache
