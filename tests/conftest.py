import os
import sys

import pytest


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """One local[2] SparkSession for the whole run; its shuffle and spill files go to the run's
    temporary directory (``spark.local.dir``), where tests can look for them."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("w2v_spark-tests")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "2g")
        .config("spark.local.dir", str(tmp_path_factory.mktemp("spark-local")))
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def topic_corpus(tmp_path_factory):
    """The synthetic topic corpus (1,500 lines) as a file, shared by the end-to-end tests."""
    from tests.corpus import write_topic_corpus

    path = tmp_path_factory.mktemp("corpus") / "topics.txt"
    write_topic_corpus(path)
    return str(path)


@pytest.fixture(scope="module")
def corpus(topic_corpus):
    """The corpus most end-to-end tests train on; a module may override it with its own."""
    return topic_corpus
