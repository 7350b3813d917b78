"""End to end through the CLI entry point on the shared local[2] session: real files, real Parquet."""

import importlib.util
import json
import logging
import math
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.corpus import TOPICS, topic_separation
from w2v_spark import Embeddings
from w2v_spark.cli import main

pytestmark = pytest.mark.spark

FAST = ["--set", "spark.partitions=2", "--set", "sgns.epochs=2", "--set", "vocab.min_count=2",
        "--set", "sgns.vector_size=16", "--set", "sgns.window=3", "--set", "vocab.sample=0"]


@pytest.fixture(scope="module")
def trained(spark, corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "run1"
    assert main(["train", "--input", corpus, "--output", str(out), *FAST]) == 0
    return out


def test_outputs_schema_manifest_and_success(spark, trained):
    assert (trained / "_SUCCESS").is_file()
    assert not any(p.name.startswith(".") for p in trained.parent.iterdir())  # no staging left
    embeddings = spark.read.parquet(str(trained / "embeddings"))
    assert embeddings.dtypes == [("word", "string"), ("id", "int"), ("count", "bigint"),
                                 ("vector", "array<float>")]
    table = pq.read_table(trained / "embeddings")
    assert table.column("id").to_pylist() == list(range(table.num_rows))  # file order = id order
    counts = table.column("count").to_pylist()
    assert counts == sorted(counts, reverse=True)
    assert {len(v) for v in table.column("vector").to_pylist()} == {16}
    vocab = spark.read.parquet(str(trained / "vocab"))
    assert vocab.dtypes == [("id", "int"), ("word", "string"), ("count", "bigint"),
                            ("keep_probability", "double")]
    assert vocab.count() == table.num_rows == 3 * 8 + 7  # every topic and function word

    manifest = json.loads((trained / "_manifest.json").read_text())
    assert manifest["format_version"] == 1
    assert manifest["config"]["sgns"]["epochs"] == 2 and manifest["seed"] == 1
    assert manifest["vocabulary"]["size"] == table.num_rows
    assert manifest["training"]["partitions"] == 2
    epochs = manifest["training"]["epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert all(math.isfinite(e["loss"]) and e["loss"] > 0 and e["words_per_sec"] > 0 for e in epochs)
    assert all(0 <= e["train_seconds"] <= e["seconds"] for e in epochs)
    assert manifest["training"]["partition_mode"] == "stratified"
    assert manifest["training"]["kernel"] in ("numpy", "numba")
    assert sum(counts) == manifest["corpus"]["training_tokens"] == epochs[0]["raw_words"]
    assert manifest["versions"]["pyspark"].startswith("4.")

    header, first = (trained / "vectors.txt").read_text().splitlines()[:2]
    assert header == f"{table.num_rows} 16"
    assert first.split()[0] == table.column("word")[0].as_py()
    np.testing.assert_allclose([float(x) for x in first.split()[1:]],
                               table.column("vector")[0].as_py(), rtol=1e-7)


def test_embeddings_learn_the_topics(trained):
    emb = Embeddings.load(trained)
    same, cross = topic_separation(emb)
    # Measured (seeds 1-3, stratified, 2 rounds): same-topic mean cosine 0.996,
    # cross-topic 0.230-0.232 (averaging mode gave 0.998 / 0.230-0.235).
    assert same > 0.9 and cross < 0.5, (same, cross)
    assert emb.most_similar("cat", topn=3)[0][0] in TOPICS["animals"]


def test_same_seed_same_vectors_other_seed_different(spark, corpus, trained, tmp_path):
    again = tmp_path / "again"
    assert main(["train", "--input", corpus, "--output", str(again), *FAST]) == 0
    first = pq.read_table(trained / "embeddings")
    second = pq.read_table(again / "embeddings")
    assert first.equals(second)
    other = tmp_path / "other"
    assert main(["train", "--input", corpus, "--output", str(other), *FAST,
                 "--set", "sgns.seed=2"]) == 0
    assert not first.column("vector").equals(pq.read_table(other / "embeddings").column("vector"))


def test_the_same_corpus_split_otherwise_trains_the_same_bits(spark, corpus, trained, tmp_path):
    """Documents are dealt and ordered by a hash of their tokens, so neither the input's split
    size nor its files' order and number change the model."""
    small_splits = tmp_path / "small-splits"
    spark.conf.set("spark.sql.files.maxPartitionBytes", "4096")
    try:
        # The case this covers: the one file is read as many partitions, not one.
        assert spark.read.text(corpus).rdd.getNumPartitions() > 10
        assert main(["train", "--input", corpus, "--output", str(small_splits), *FAST]) == 0
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
    assert spark.read.text(corpus).rdd.getNumPartitions() == 1
    # The same lines in three files of a directory, in another order.
    lines = Path(corpus).read_text(encoding="utf-8").splitlines(keepends=True)[::-1]
    parts = tmp_path / "parts"
    parts.mkdir()
    for k in range(3):
        (parts / f"part-{k}.txt").write_text("".join(lines[k::3]), encoding="utf-8")
    directory = tmp_path / "directory"
    assert main(["train", "--input", str(parts), "--output", str(directory), *FAST]) == 0
    first = pq.read_table(trained / "embeddings")
    for out in (small_splits, directory):
        assert pq.read_table(out / "embeddings").equals(first), out.name


@pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason="threads need numba")
def test_threads_inside_a_trainer_reproduce_their_bits_and_learn_the_topics(spark, corpus,
                                                                          trained, tmp_path):
    runs = []
    for name in ("threads", "threads-again"):
        out = tmp_path / name
        assert main(["train", "--input", corpus, "--output", str(out), *FAST,
                     "--set", "sgns.threads=2"]) == 0
        runs.append(out)
    first, second = (pq.read_table(out / "embeddings") for out in runs)
    assert first.equals(second)
    assert not first.column("vector").equals(pq.read_table(trained / "embeddings").column("vector"))
    manifest = json.loads((runs[0] / "_manifest.json").read_text())
    assert manifest["training"]["threads"] == 2
    same, cross = topic_separation(Embeddings.load(runs[0]))
    # Measured (seed 1, 2 threads): same-topic 0.962, cross-topic 0.301 (one thread: 0.996 /
    # 0.23).
    assert same > 0.9 and cross < 0.5, (same, cross)


def test_jobs_of_a_run_share_one_job_group(spark, corpus, tmp_path):
    out = tmp_path / "grouped"
    assert main(["train", "--input", corpus, "--output", str(out), *FAST]) == 0
    run_id = json.loads((out / "_manifest.json").read_text())["run_id"]
    jobs = spark.sparkContext.statusTracker().getJobIdsForGroup(f"w2v_spark-{run_id}")
    # Measured: 22 jobs (vocabulary, encoding, 2 epochs of strata, writing, validation).
    assert len(jobs) >= 5


def test_cbow_learns_the_topics_and_refuses_stratified_partitions(spark, corpus, tmp_path, capsys,
                                                                  caplog):
    caplog.set_level(logging.INFO, logger="w2v_spark")
    out = tmp_path / "cbow"
    # The default partition mode ("auto") picks averaging for CBOW, and says so.
    assert main(["train", "--input", corpus, "--output", str(out), *FAST, "--set", "sgns.model=cbow",
                 "--set", "sgns.epochs=5"]) == 0
    assert "CBOW trains by averaging partition models" in caplog.text
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["training"]["partition_mode"] == "averaging"
    # `auto` picks the compiled CBOW kernel (numba is in the test extra).
    assert manifest["config"]["sgns"]["model"] == "cbow" and manifest["training"]["kernel"] == "numba"
    same, cross = topic_separation(Embeddings.load(out))
    # Measured: same-topic 0.9994, cross-topic 0.138 (2 partitions, averaging, 5 epochs; the
    # NumPy kernel gave 0.9994 / 0.136).
    assert same > 0.9 and cross < 0.5, (same, cross)
    assert main(["train", "--input", corpus, "--output", str(tmp_path / "no"), *FAST,
                 "--set", "sgns.model=cbow", "--set", "sgns.partition_mode=stratified"]) == 2
    assert "needs sgns.partition_mode = 'averaging'" in capsys.readouterr().err


def test_full_softmax_is_the_reference_negative_sampling_agrees_with(spark, corpus, tmp_path):
    words = [w for group in TOPICS.values() for w in group]
    cosines = {}
    for loss in ("softmax", "negative_sampling"):
        out = tmp_path / loss
        assert main(["train", "--input", corpus, "--output", str(out), *FAST, "--set", f"sgns.loss={loss}",
                     "--set", "spark.partitions=1", "--set", "sgns.epochs=3"]) == 0
        emb = Embeddings.load(out)
        unit = emb.unit[[emb.index[w] for w in words]]
        cosines[loss] = (unit @ unit.T)[~np.eye(len(words), dtype=bool)]
    # Measured: the 552 pairwise cosines of the 24 topic words correlate at r = 0.9996 between
    # the two objectives (same-topic mean 0.996 softmax, 0.998 negative sampling).
    assert np.corrcoef(cosines["softmax"], cosines["negative_sampling"])[0, 1] > 0.98


def test_full_softmax_is_refused_on_a_large_vocabulary(spark, tmp_path, capsys):
    big = tmp_path / "big.txt"
    big.write_text("\n".join(" ".join(f"w{i}" for i in range(j, j + 6000, 7)) for j in range(40)))
    out = tmp_path / "out"
    assert main(["train", "--input", str(big), "--output", str(out), "--set", "vocab.min_count=1",
                 "--set", "sgns.loss=softmax", "--set", "spark.partitions=1", "--set", "sgns.epochs=1"]) == 2
    assert "refused above 5,000 words (this vocabulary has" in capsys.readouterr().err
    assert not out.exists()
