"""The job on a real standalone cluster: same result as local mode, through a lost worker, a
killed task and a killed driver."""

import json
import os
import signal
import threading

import pyarrow.parquet as pq
import pytest

from benchmarks.bench import TreeMonitor
from benchmarks.zipf_corpus import write_corpus
from tests.cluster.conftest import submit
from tests.corpus import write_topic_corpus
from w2v_spark.cli import main

pytestmark = [pytest.mark.cluster, pytest.mark.spark]

RUN = ["--set", "vocab.min_count=2", "--set", "sgns.vector_size=16", "--set", "sgns.epochs=4",
       "--set", "sgns.window=3", "--set", "spark.partitions=2", "--set", "output.word2vec_text=false"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "topics.txt"
    write_topic_corpus(path, lines=6000)
    return str(path)


@pytest.fixture(scope="module")
def local_result(spark, corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "run"
    assert main(["train", "--input", corpus, "--output", str(out), *RUN]) == 0
    return out


def _same_files(one, other, name):
    files = sorted(p.name for p in (one / name).iterdir())
    assert files == sorted(p.name for p in (other / name).iterdir())
    for file in files:
        assert (one / name / file).read_bytes() == (other / name / file).read_bytes(), file
    return files


def test_cluster_result_equals_local_mode(cluster, corpus, local_result, tmp_path):
    """Local mode and the cluster both keep the model on the executors, in slice files (the
    cluster's on two workers, with the archive's Python): the same embeddings, byte for byte."""
    out = tmp_path / "run"
    code, log = submit(cluster, "--input", corpus, "--output", str(out), *RUN)
    assert code == 0, log[-3000:]
    assert f"master {cluster.url}" in log
    assert _same_files(out, local_result, "embeddings")[0] == "_SUCCESS"
    # The executors ran the Python of the archive from `make dist`, unpacked in their work dir.
    executor = json.loads((out / "_manifest.json").read_text())["executor_versions"]
    assert executor["prefix"].endswith("/environment") and "/app-" in executor["prefix"], executor
    assert executor["w2v_spark"] == json.loads((out / "_manifest.json").read_text())["versions"]["w2v_spark"]
    assert len({p.parent.parent.parent for p in cluster.unpacked_environments()}) == 2  # both workers


def test_four_partitions_on_two_workers_equal_local_mode(cluster, corpus, tmp_path):
    """More trainers than the cluster's cores: the strata's tasks queue for the two cores, on
    the cluster and in local mode (2 slots, 4 trainers) alike, the model in slice files that
    the executors read and write. The same vectors, bit for bit, byte for byte on disk, in
    one embeddings file per trainer, written by the executors."""
    four = [*RUN, "--set", "spark.partitions=4", "--set", "sgns.epochs=2"]
    local = tmp_path / "local"
    assert main(["train", "--input", corpus, "--output", str(local), *four]) == 0
    out = tmp_path / "cluster"
    code, log = submit(cluster, "--input", corpus, "--output", str(out), *four)
    assert code == 0, log[-3000:]
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["training"]["partitions"] == 4 and manifest["spark"]["master"] == cluster.url
    for name in ("embeddings", "vocab"):
        # _SUCCESS and the parts: one per trainer
        assert len(_same_files(out, local, name)) == (5 if name == "embeddings" else 2)


def test_losing_a_worker_mid_training_changes_nothing(cluster, corpus, local_result, tmp_path):
    out = tmp_path / "run"
    killed = []

    def kill_after_first_epoch(line, proc):
        if not killed and "epoch 1/4:" in line:
            cluster.kill_worker(1)  # SIGKILL the worker JVM, its executor and Python workers
            killed.append(line)

    try:
        code, log = submit(cluster, "--input", corpus, "--output", str(out), *RUN,
                           on_line=kill_after_first_epoch)
    finally:
        cluster.add_worker(len(cluster.workers))
        cluster.wait_for_workers(2)
    assert killed, "training ended before the worker could be killed"
    assert code == 0, log[-3000:]
    assert "lost" in log.lower()  # Spark noticed the executor loss
    assert pq.read_table(out / "embeddings").equals(pq.read_table(local_result / "embeddings"))


def test_killed_task_is_retried_with_the_same_result(cluster, corpus, local_result, tmp_path):
    out = tmp_path / "run"
    code, log = submit(cluster, "--input", corpus, "--output", str(out), *RUN,
                       "--set", "debug.fail_task_once=2:1")
    assert code == 0, log[-3000:]
    assert "Python worker exited unexpectedly" in log
    assert pq.read_table(out / "embeddings").equals(pq.read_table(local_result / "embeddings"))


def test_killed_driver_then_resume_gives_the_same_result(cluster, corpus, local_result, tmp_path):
    out = tmp_path / "run"

    def kill_driver_after_checkpoint_3(line, proc):
        if "checkpoint of epoch 3 written" in line:
            os.killpg(proc.pid, signal.SIGKILL)  # spark-submit, its JVM and the Python driver

    code, log = submit(cluster, "--input", corpus, "--output", str(out), *RUN,
                       on_line=kill_driver_after_checkpoint_3)
    assert code == -signal.SIGKILL, log[-3000:]
    assert not out.exists()  # nothing published
    assert (tmp_path / ".run._checkpoints" / "epoch=3" / "_COMPLETE").exists()

    code, log = submit(cluster, "--input", corpus, "--output", str(out), *RUN, "--resume")
    assert code == 0, log[-3000:]
    assert "resuming after epoch 3" in log
    assert pq.read_table(out / "embeddings").equals(pq.read_table(local_result / "embeddings"))


def test_a_model_larger_than_the_drivers_heap_never_enters_the_driver(cluster, tmp_path):
    """150,000 words × 600 dims: a 687 MB model, trained with a 512 MB driver. The driver's JVM
    and its Python are sampled while it runs, and each stays below the model's size: neither
    ever holds a copy of it (measured in a full `make test`: Python 363 MB, JVM 512 MB; the
    same job in local mode with 600 and with 60 dims: Python 264 and 265 MB — the driver's
    memory follows the vocabulary, not the model)."""
    corpus = tmp_path / "zipf.txt"
    write_corpus(str(corpus), words=150_000, head=10_000)
    out = tmp_path / "run"
    monitors = []

    def watch(line, proc):
        if not monitors:
            monitors.append(TreeMonitor(proc.pid))
            threading.Thread(target=monitors[0].run, args=(proc,), daemon=True).start()

    code, log = submit(cluster, "--input", str(corpus), "--output", str(out),
                       "--set", "vocab.min_count=5", "--set", "vocab.sample=0",
                       "--set", "sgns.vector_size=600", "--set", "sgns.epochs=1",
                       "--set", "sgns.window=2", "--set", "sgns.negative=2",
                       "--set", "spark.partitions=2", "--set", "output.word2vec_text=false",
                       "--set", "output.checkpoints=false",
                       options=["--driver-memory", "512m"], on_line=watch, timeout=600)
    assert code == 0, log[-3000:]
    manifest = json.loads((out / "_manifest.json").read_text())
    memory = manifest["training"]["memory"]
    assert memory["model_bytes"] == 2 * 150_000 * 600 * 4 > memory["driver_memory_bytes"]
    assert memory["model_on_executors"]
    embeddings = pq.read_table(out / "embeddings")
    assert embeddings.num_rows == 150_000 and len(embeddings.column("vector")[0]) == 600
    assert len(list((out / "embeddings").glob("part-*.parquet"))) == 2  # one per trainer
    monitor = monitors[0]
    python, jvm = monitor.peak("python"), monitor.peak("jvm")
    model_mb = memory["model_bytes"] / 2**20
    assert 0 < python < model_mb and 0 < jvm < model_mb, (python, jvm, model_mb)
