"""Our defaults for Spark settings: which ones a master gets, and that the workers' environment
does what it is there for."""

import subprocess
import sys

from w2v_spark.spark.session import (
    LOCAL_DRIVER_MEMORY,
    LOCAL_MODE_CONF,
    PYTHON_WORKER_ENV,
    SQL_CONF,
    default_conf,
    launcher_settings,
)


def test_local_masters_get_uncompressed_shuffles_and_clusters_keep_sparks_defaults():
    for master in ("local", "local[2]", "local[*]", "local-cluster[2,1,1024]"):
        assert default_conf(master) == {**PYTHON_WORKER_ENV, **SQL_CONF, **LOCAL_MODE_CONF,
                                        **LOCAL_DRIVER_MEMORY}
    assert LOCAL_MODE_CONF["spark.shuffle.compress"] == "false"
    for master in ("spark://127.0.0.1:7077", "yarn", "k8s://https://cluster:443", ""):
        assert default_conf(master) == {**PYTHON_WORKER_ENV, **SQL_CONF}


def _numpy_madvise_hugepage(env: dict[str, str]) -> bool:
    probe = "import numpy as np; print(np._core.multiarray._get_madvise_hugepage())"
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                          check=True)
    return done.stdout.strip() == "True"


def test_the_workers_numpy_takes_no_huge_pages():
    prefix = "spark.executorEnv."
    worker_env = {key[len(prefix):]: value for key, value in PYTHON_WORKER_ENV.items()}
    assert not _numpy_madvise_hugepage(worker_env)
    if sys.platform == "linux":  # the variable is what turns it off: NumPy's default is on
        assert _numpy_madvise_hugepage({})


def test_the_training_tasks_modules_import_neither_scipy_sparse_nor_parquet():
    # A Python worker imports these to run the stratified epoch's tasks; scipy.sparse (the NumPy
    # kernel's scatter-add) and the package's Embeddings (PyArrow's Parquet, pyspark.sql) would
    # add 150 ms to every worker's first task.
    probe = ("import sys, w2v_spark.sgns.resident, w2v_spark.sgns.resident_epochs, w2v_spark.sgns.kernel_numba; "
             "print(sorted(m for m in ('scipy.sparse', 'pyarrow.parquet', 'w2v_spark.vectors.embeddings') "
             "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


def test_launcher_settings_read_spark_defaults_then_pyspark_submit_args(tmp_path):
    """What wins over the TOML when pyspark starts the JVM: spark-defaults.conf's properties
    (whitespace, ``=`` or ``:`` separated; comments and non-Spark keys ignored), overridden by
    PYSPARK_SUBMIT_ARGS's ``--conf`` and ``--driver-memory``."""
    (tmp_path / "spark-defaults.conf").write_text(
        "# cluster defaults\n"
        "spark.executor.memory     4g\n"
        "spark.driver.memory=2g\n"
        "spark.sql.shuffle.partitions : 400\n"
        "\n"
        "! another comment\n"
        "other.key 1\n", encoding="utf-8")
    environ = {"SPARK_CONF_DIR": str(tmp_path),
               "PYSPARK_SUBMIT_ARGS": "--master local[3] --driver-memory 512m "
                                      "--conf spark.executor.cores=4 "
                                      "--conf 'spark.executor.extraJavaOptions=-Da=1 -Db=2' "
                                      "pyspark-shell"}
    assert launcher_settings(environ) == {
        "spark.master": "local[3]", "spark.executor.memory": "4g", "spark.driver.memory": "512m",
        "spark.sql.shuffle.partitions": "400", "spark.executor.cores": "4",
        "spark.executor.extraJavaOptions": "-Da=1 -Db=2"}
    assert launcher_settings({"SPARK_CONF_DIR": str(tmp_path / "none")}) == {}
