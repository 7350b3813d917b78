"""The count-based branch end to end: ``ppmi`` command and ``train`` with both methods."""

import json

import pyarrow.parquet as pq
import pytest

from tests.corpus import topic_separation
from w2v_spark import Embeddings
from w2v_spark.cli import main

pytestmark = pytest.mark.spark

SMALL = ["--set", "vocab.min_count=2", "--set", "ppmi.vector_size=8", "--set", "ppmi.window=3"]


@pytest.fixture(scope="module")
def counted(spark, corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "ppmi1"
    assert main(["ppmi", "--input", corpus, "--output", str(out), *SMALL]) == 0
    return out


def test_ppmi_outputs_and_manifest(spark, counted):
    assert (counted / "_SUCCESS").is_file()
    for name in ("cooccurrence", "ppmi", "embeddings", "vocab"):
        assert (counted / name).is_dir(), name
    pairs = spark.read.parquet(str(counted / "cooccurrence"))
    assert pairs.dtypes == [("word_id", "int"), ("context_id", "int"), ("count", "double")]
    positive = spark.read.parquet(str(counted / "ppmi"))
    assert positive.dtypes == [("word_id", "int"), ("context_id", "int"), ("ppmi", "double")]
    manifest = json.loads((counted / "_manifest.json").read_text())
    assert manifest["method"] == "ppmi_svd" and "training" not in manifest
    stats = manifest["ppmi_svd"]
    assert stats["distinct_pairs"] == pairs.count() and stats["ppmi_entries"] == positive.count()
    assert 0 < stats["ppmi_entries"] < stats["distinct_pairs"]
    assert positive.where("ppmi <= 0").count() == 0
    # The count matrix is symmetric: every (w, c) has its (c, w) with the same count.
    mirrored = pairs.selectExpr("context_id as word_id", "word_id as context_id", "count")
    assert pairs.exceptAll(mirrored).count() == 0
    table = pq.read_table(counted / "embeddings")
    assert table.schema.names == ["word", "id", "count", "vector"]
    assert {len(v) for v in table.column("vector").to_pylist()} == {8}
    assert manifest["outputs"]["ppmi"] == "ppmi/"
    # The count branch's stages, each timed (a Spark job takes well over the 1 ms rounding).
    timings = manifest["timings_seconds"]
    assert {"vocabulary", "cooccurrence", "ppmi", "write matrices", "svd", "write"} <= set(timings)
    assert "train" not in timings and min(timings.values()) > 0, timings


def test_ppmi_svd_vectors_learn_the_topics(counted):
    emb = Embeddings.load(counted)
    same, cross = topic_separation(emb)
    # Measured: same-topic mean cosine 0.903, cross-topic 0.007 (8 dimensions, 31 words).
    assert same > 0.8 and cross < 0.2, (same, cross)


def test_ppmi_is_deterministic(spark, corpus, counted, tmp_path):
    again = tmp_path / "again"
    assert main(["ppmi", "--input", corpus, "--output", str(again), *SMALL]) == 0
    for name in ("embeddings", "cooccurrence", "ppmi"):
        assert pq.read_table(counted / name).equals(pq.read_table(again / name)), name


def test_train_with_both_methods_shares_one_vocabulary(spark, corpus, tmp_path):
    out = tmp_path / "both"
    assert main(["train", "--input", corpus, "--output", str(out), *SMALL,
                 "--set", 'pipeline.methods=["sgns", "ppmi_svd"]', "--set", "sgns.epochs=1",
                 "--set", "sgns.vector_size=12"]) == 0
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["method"] == ["sgns", "ppmi_svd"]
    assert set(manifest["outputs"]) == {"sgns", "ppmi_svd"}
    assert (out / "_SUCCESS").is_file() and not (out / "embeddings").exists()
    sgns, counted = Embeddings.load(out / "sgns"), Embeddings.load(out / "ppmi_svd")
    assert sgns.words == counted.words and sgns.vectors.shape[1] == 12 and counted.vectors.shape[1] == 8
    assert (out / "ppmi_svd" / "cooccurrence").is_dir() and (out / "sgns" / "vectors.txt").is_file()
    assert manifest["training"]["epochs"][0]["epoch"] == 1 and manifest["ppmi_svd"]["ppmi_entries"] > 0
