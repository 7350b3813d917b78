"""Spark's internals are reached from nowhere: the package uses public APIs only, so that it
runs where a Spark Connect session has no JVM, SparkContext or py4j."""

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "w2v_spark"
PRIVATE = re.compile(r"_jvm|_jsc|_gateway|py4j|_jrdd|_temp_dir|_find_spark_home|_active_spark_context")


def test_nothing_reaches_into_spark_internals():
    found = {str(path.relative_to(PACKAGE)): sorted(set(PRIVATE.findall(path.read_text())))
             for path in PACKAGE.rglob("*.py")}
    assert {name: hits for name, hits in found.items() if hits} == {}
