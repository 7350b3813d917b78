"""SparkSession construction from ``[spark]``."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from pyspark import SparkConf
from pyspark.sql import SparkSession

from w2v_spark.config import SparkConfig
from w2v_spark.errors import W2VError

log = logging.getLogger(__name__)


#: Environment of the executors' Python workers (each key can be overridden in ``[spark.conf]``).
#: glibc's malloc hands large NumPy arrays back to the kernel when they are freed, so every block
#: and every batch of negatives of every task starts on fresh pages: page faults cost a quarter of
#: the map stage's time (bench-en partition: 0.37 → 0.29 s per task, page faults 32k → 0). With
#: these thresholds freed memory stays in the worker for the next array; a worker keeps its peak
#: (a few hundred MB) until it exits.
PYTHON_WORKER_ENV = {
    "spark.executorEnv.MALLOC_MMAP_THRESHOLD_": str(1 << 30),
    "spark.executorEnv.MALLOC_TRIM_THRESHOLD_": str(1 << 32),
}


def launched_by_spark_submit() -> bool:
    """spark-submit starts the JVM first and hands the Python driver its gateway port."""
    return "PYSPARK_GATEWAY_PORT" in os.environ or SparkConf().contains("spark.master")


def build_session(config: SparkConfig) -> SparkSession:
    """Start (or join) the SparkSession.

    Under ``spark-submit`` the master and resources come from spark-submit and ``spark.master``
    here is ignored; under ``python -m w2v_spark`` it is used. Executors run the same Python as the
    driver unless ``PYSPARK_PYTHON`` says otherwise.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(config.app_name)
    if not launched_by_spark_submit():
        builder = builder.master(config.master)
    # Few, larger shuffle partitions: our shuffled tables are small (vocabulary, corpus packing).
    builder = builder.config("spark.sql.shuffle.partitions", str(max(2, config.partitions)))
    # Our one log line per stage/epoch is the progress report; the console bar garbles logs.
    builder = builder.config("spark.ui.showConsoleProgress", "false")
    submitted = SparkConf()  # spark-submit's and spark-defaults' settings win over our defaults
    for key, value in PYTHON_WORKER_ENV.items():
        if key not in config.conf and not submitted.contains(key):
            builder = builder.config(key, value)
    for key, value in config.conf.items():
        builder = builder.config(key, str(value).lower() if isinstance(value, bool) else str(value))
    try:
        spark = builder.getOrCreate()
    except Exception as err:  # noqa: BLE001 - the launcher raises a bare RuntimeError/PySparkException
        if "JAVA_GATEWAY_EXITED" in str(err) or "Java gateway" in str(err):
            raise W2VError(
                "could not start Spark: Java 17 or newer is required (install a JDK and set JAVA_HOME)"
            ) from None
        raise
    spark.sparkContext.setLogLevel("WARN")
    _quiet(spark, "org.apache.spark.sql.execution.window.WindowExec")  # vocabulary ids: by design
    log.info("Spark %s, master %s, default parallelism %d", spark.version,
             spark.sparkContext.master, spark.sparkContext.defaultParallelism)
    return spark


@contextmanager
def spark_session(config: SparkConfig) -> Iterator[SparkSession]:
    """The session for one command: reuses an active one (a notebook's, the tests'), otherwise
    starts one and stops it on the way out."""
    owned = SparkSession.getActiveSession() is None
    spark = build_session(config)
    try:
        yield spark
    finally:
        if owned:
            spark.stop()


def _quiet(spark: SparkSession, logger: str) -> None:
    """Raise one JVM logger to ERROR (a warning we trigger on purpose, once per job)."""
    jvm = spark.sparkContext._jvm
    jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(
        logger, jvm.org.apache.logging.log4j.Level.ERROR
    )
