"""The spark-submit entry point, in its own JVM, as a cluster user would launch it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.corpus import write_topic_corpus

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[2]


def _submit(*args, timeout=300, job="train_embeddings.py", options=()):
    bin_dir = os.path.dirname(sys.executable)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", PYSPARK_PYTHON=sys.executable,
               PYSPARK_DRIVER_PYTHON=sys.executable)
    return subprocess.run(
        [os.path.join(bin_dir, "spark-submit"), "--master", "local[2]", *options,
         str(ROOT / "jobs" / job), *args],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT,
    )


def test_spark_submit_trains_and_maps_errors_to_exit_codes(tmp_path):
    corpus = tmp_path / "corpus.txt"
    write_topic_corpus(corpus, lines=400)
    out = tmp_path / "out"
    # spark.master in the config says local[1]; spark-submit's --master local[2] must win.
    done = _submit("--config", str(ROOT / "conf" / "default.toml"), "--input", str(corpus),
                   "--output", str(out), "--set", "spark.master=local[1]", "--set", "sgns.epochs=1",
                   "--set", "vocab.min_count=2", "--set", "sgns.vector_size=8")
    assert done.returncode == 0, done.stderr[-2000:]
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["vocabulary"]["size"] == 31 and (out / "_SUCCESS").exists()
    log = done.stdout + done.stderr  # spark-submit forwards the driver's stderr to its stdout
    assert "master local[2]" in log

    empty = tmp_path / "empty.txt"
    empty.write_text("")
    failed = _submit("--input", str(empty), "--output", str(tmp_path / "out2"))
    assert failed.returncode == 3
    log = failed.stdout + failed.stderr
    assert "error: input" in log and "contains no tokens" in log
    assert not (tmp_path / "out2").exists()


def test_spark_submit_ppmi_job(tmp_path):
    corpus = tmp_path / "corpus.txt"
    write_topic_corpus(corpus, lines=300)
    out = tmp_path / "out"
    done = _submit("--input", str(corpus), "--output", str(out), "--set", "vocab.min_count=2",
                   "--set", "ppmi.vector_size=4", job="ppmi_embeddings.py")
    assert done.returncode == 0, done.stderr[-2000:]
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["method"] == "ppmi_svd" and manifest["ppmi_svd"]["ppmi_entries"] > 0
    assert (out / "ppmi").is_dir() and (out / "_SUCCESS").exists()


def test_spark_submit_settings_win_over_the_toml_which_fills_in_the_rest(tmp_path):
    corpus = tmp_path / "corpus.txt"
    write_topic_corpus(corpus, lines=300)
    config = tmp_path / "job.toml"
    config.write_text(
        '[spark.conf]\n'
        '"spark.driver.memory" = "3g"\n'                   # spark-submit's --driver-memory wins
        '"spark.sql.shuffle.partitions" = "3"\n'          # spark-submit's --conf wins
        '"spark.executorEnv.W2V_SPARK_TEST" = "toml"\n'   # static, not given to spark-submit
        '"spark.sql.files.maxPartitionBytes" = "65536"\n'  # runtime, not given to spark-submit
        '"spark.driver.extraLibraryPath" = "/opt/w2v"\n'  # the driver's JVM runs already
        '[sgns]\nepochs = 1\nvector_size = 8\n[vocab]\nmin_count = 2\n',
        encoding="utf-8")
    out = tmp_path / "out"
    done = _submit("--config", str(config), "--input", str(corpus), "--output", str(out),
                   options=["--driver-memory", "1g", "--conf", "spark.sql.shuffle.partitions=7"])
    assert done.returncode == 0, done.stderr[-2000:]
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["spark"]["conf"] == {
        "spark.driver.memory": "1g", "spark.sql.shuffle.partitions": "7",
        "spark.executorEnv.W2V_SPARK_TEST": "toml", "spark.sql.files.maxPartitionBytes": "65536",
        "spark.driver.extraLibraryPath": None}
    # The memory guard judged the driver the JVM has, not the TOML's.
    assert manifest["training"]["memory"]["driver_memory_bytes"] == 1 << 30
    log = done.stdout + done.stderr
    assert "spark-submit's settings win over [spark.conf]: spark.driver.memory = 1g" in log
    assert ("spark.executorEnv.W2V_SPARK_TEST = toml: not set by spark-submit; starting the "
            "SparkContext again") in log
    assert "[spark.conf] spark.driver.extraLibraryPath = /opt/w2v not applied" in log
