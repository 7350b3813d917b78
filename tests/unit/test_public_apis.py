"""Spark's internals are reached from one module only, the stratified epoch's RDD transport
(``w2v_spark/sgns/epochs.py``: partition pruning, early map stages, shuffle clean-up), which the
executor-resident training path of issue #21 replaces. Everything else uses public APIs, so that
it runs where a Spark Connect session has no JVM, SparkContext or py4j."""

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "w2v_spark"
PRIVATE = re.compile(r"_jvm|_jsc|_gateway|py4j|_jrdd|_temp_dir|_find_spark_home|_active_spark_context")
#: The one module allowed to, until it is replaced.
SEAM = PACKAGE / "sgns" / "epochs.py"


def test_only_the_rdd_transport_reaches_into_spark_internals():
    found = {str(path.relative_to(PACKAGE)): sorted(set(PRIVATE.findall(path.read_text())))
             for path in PACKAGE.rglob("*.py") if path != SEAM}
    assert {name: hits for name, hits in found.items() if hits} == {}
    assert PRIVATE.search(SEAM.read_text())  # stale once the seam is gone: then drop the exception
