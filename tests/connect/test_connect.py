"""Commands against a real Spark Connect server, which this module starts
(``start-connect-server.sh`` from the pyspark package, ``local[2]``, on a free port on
127.0.0.1) and stops, even when a test fails.

What runs under Connect (#22): ``train`` and ``ppmi`` (the same bits as a classic session), the
``pyspark.ml`` Pipeline with ``w2v_spark.ml.Word2Vec`` (in a user's script, the same numbers as in
a classic session), ``transform`` with a model too large for its function, and ``neighbors``.
"""

import logging
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from benchmarks.standalone import SPARK_HOME, free_port, spark_env
from w2v_spark.cli import main
from w2v_spark.vectors.embeddings import Embeddings
from w2v_spark.vectors.word2vec_format import embeddings_table

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.connect, pytest.mark.spark]


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory):
    """``sc://127.0.0.1:PORT`` of a Connect server started for this module."""
    root = tmp_path_factory.mktemp("connect-server")
    port = free_port()
    env = dict(spark_env(), SPARK_LOG_DIR=str(root / "logs"), SPARK_PID_DIR=str(root / "pids"),
               SPARK_IDENT_STRING="w2v-tests")
    sbin = SPARK_HOME / "sbin"
    subprocess.run(["bash", str(sbin / "start-connect-server.sh"), "--master", "local[2]",
                    "--conf", f"spark.connect.grpc.binding.port={port}",
                    "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
                    "--conf", f"spark.local.dir={root / 'local'}",
                    # As the tests' classic session (tests/conftest.py): small shuffles.
                    "--conf", "spark.sql.shuffle.partitions=2",
                    "--conf", "spark.ui.enabled=false"],
                   env=env, check=True, stdout=subprocess.DEVNULL, timeout=60)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    logs = "".join(p.read_text() for p in (root / "logs").glob("*.out"))
                    pytest.fail(f"the Connect server did not listen on {port}:\n{logs[-3000:]}")
                time.sleep(0.5)
        yield f"sc://127.0.0.1:{port}"
    finally:
        subprocess.run(["bash", str(sbin / "stop-connect-server.sh")], env=env, check=False,
                       stdout=subprocess.DEVNULL, timeout=120)


@pytest.fixture(scope="module")
def small_embeddings(tmp_path_factory):
    rng = np.random.default_rng(4)
    words = [f"w{i}" for i in range(70)]
    vectors = rng.standard_normal((70, 5)).astype(np.float32)
    root = tmp_path_factory.mktemp("emb")
    (root / "embeddings").mkdir()
    counts = np.arange(70, 0, -1)
    pq.write_table(embeddings_table(words, counts, vectors),
                   root / "embeddings" / "part-00000.parquet")
    return root, Embeddings(words, counts, vectors)


def _cli(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "w2v_spark", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env=env or spark_env())


def test_neighbors_runs_on_a_connect_server_and_finds_the_true_neighbours(
        connect_url, small_embeddings, tmp_path):
    root, emb = small_embeddings
    out = tmp_path / "nb"
    # Blocks of 16 rows: 5 query blocks × 5 candidate blocks, merged across blocks.
    done = _cli("neighbors", "--embeddings", str(root), "--output", str(out), "--topn", "4",
                "--block-size", "16", "--remote", connect_url)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"over Spark Connect at {connect_url}" in done.stderr
    assert (out / "_SUCCESS").is_file()
    found = pq.read_table(out / "neighbors").to_pylist()
    cos = emb.unit @ emb.unit.T
    np.fill_diagonal(cos, -np.inf)
    for i, word in enumerate(emb.words):
        mine = sorted((r for r in found if r["word"] == word), key=lambda r: r["rank"])
        best = sorted(range(len(emb.words)), key=lambda j: (-cos[i, j], j))[:4]
        assert [r["neighbor"] for r in mine] == [emb.words[j] for j in best], word
        assert np.allclose([r["cosine"] for r in mine], cos[i, best], atol=1e-6)


def test_spark_remote_in_the_environment_is_honoured(connect_url, small_embeddings, tmp_path):
    root, _ = small_embeddings
    out = tmp_path / "nb"
    done = _cli("neighbors", "--embeddings", str(root), "--output", str(out), "--words", "w3",
                "--topn", "2", env=dict(spark_env(), SPARK_REMOTE=connect_url))
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"over Spark Connect at {connect_url}" in done.stderr
    rows = pq.read_table(out / "neighbors").to_pylist()
    assert [(r["word"], r["rank"]) for r in sorted(rows, key=lambda r: r["rank"])] == \
        [("w3", 1), ("w3", 2)]


#: A short run of the demo corpus: the same bits in every session for the same seed and partitions.
SHORT = ["--set", "sgns.epochs=2", "--set", "vocab.min_count=2", "--set", "sgns.vector_size=16",
         "--set", "sgns.window=3", "--set", "sgns.seed=5"]


def _vectors(run: Path) -> tuple[list, np.ndarray]:
    table = pq.read_table(run / "embeddings")
    return (table.column("word").to_pylist(),
            np.stack(table.column("vector").to_numpy(zero_copy_only=False)))


def test_train_over_connect_gives_the_bits_of_a_classic_run(connect_url, spark, tmp_path, caplog):
    """The demo corpus trained over Spark Connect and in a classic local[2] session (the tests'
    own, which the CLI joins): the same vectors, bit for bit, and nothing left beside the
    output. Both keep the model on the executors (a job per stratum); over Connect what every
    task reads is a file, in the classic session a broadcast. (One partition, the driver's
    model and a job per epoch, shares the tasks' plumbing — Shared, the cached corpus read by
    partition — and is the classic tests'.)"""
    remote, classic = tmp_path / "connect" / "run", tmp_path / "classic" / "run"
    short = [*SHORT, "--set", "spark.partitions=2"]
    done = _cli("train", "--output", str(remote), *short, "--remote", connect_url)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "the model on the executors" in done.stderr
    with caplog.at_level(logging.INFO, logger="w2v_spark"):
        assert main(["train", "--output", str(classic), *short]) == 0
    assert "the model on the executors" in caplog.text
    words, vectors = _vectors(remote)
    classic_words, classic_vectors = _vectors(classic)
    assert words == classic_words and len(words) > 10_000  # 14,796 measured (min_count 2)
    np.testing.assert_array_equal(vectors, classic_vectors)
    assert np.abs(vectors).sum() > 0
    assert sorted(p.name for p in (tmp_path / "connect").iterdir()) == ["run"]
    assert (remote / "_SUCCESS").is_file() and (remote / "vectors.txt").is_file()


def test_the_ml_pipeline_over_connect_gives_the_numbers_of_a_classic_session(
        connect_url, spark, tmp_path):
    """``pyspark.ml.Pipeline`` with ``w2v_spark.ml.Word2Vec`` over the demo corpus, a user's
    script (``pipeline_script.py``) run over Spark Connect, and the same code in the tests'
    classic session: fit (two partitions, the model on the executors), getVectors, transform, findSynonymsArray, save with overwrite, and load — the
    same numbers in both."""
    import json

    from tests.connect.pipeline_script import results

    (tmp_path / "connect").mkdir()
    (tmp_path / "classic").mkdir()
    done = subprocess.run([sys.executable, str(Path(__file__).parent / "pipeline_script.py"),
                           connect_url, str(tmp_path / "connect")],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, env=spark_env())
    assert done.returncode == 0, done.stderr[-3000:]
    connect = json.loads((tmp_path / "connect" / "result.json").read_text())
    classic = results(spark, str(tmp_path / "classic"))
    assert connect["connect"] and not classic["connect"]
    mine, theirs = connect["2"], classic["2"]
    assert len(mine["vectors"]) > 5_000  # ≈ 10,700 words occur ≥ 5 times in the demo corpus
    assert mine["vectors"] == theirs["vectors"]
    assert mine["loaded"] == mine["vectors"]
    assert mine["averaged"] == theirs["averaged"]
    assert mine["synonyms"] == theirs["synonyms"]
    assert np.abs(np.array(mine["averaged"])).sum() > 0


def test_transform_of_a_model_too_large_for_its_function_over_connect(connect_url, spark, tmp_path):
    """A 52 MB model over Spark Connect (over ``CONNECT_TRANSFORM_BYTES``, which the function
    cannot carry through the server's 1 GB driver): its words are joined with its vectors, and
    the rows come back in their order with the bits of a classic session's transform."""
    import json

    from tests.connect.large_model_script import averaged

    done = subprocess.run([sys.executable, str(Path(__file__).parent / "large_model_script.py"),
                           connect_url, str(tmp_path)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, env=spark_env())
    assert done.returncode == 0, done.stderr[-3000:]
    remote = [(row_id, vector) for row_id, vector in
              json.loads((tmp_path / "averaged.json").read_text())]
    assert [row_id for row_id, _ in remote] == list(range(200))
    assert remote == averaged(spark)  # the function's path, in the classic session
    assert sum(any(vector) for _, vector in remote) > 150  # 177 rows have a known word


def test_ppmi_over_connect_gives_the_bits_of_a_classic_run(connect_url, spark, tmp_path):
    """The count-based branch over Spark Connect (the SVD's dense factors reach the tasks as
    files in the output's staging directory) and in a classic session: the same vectors and
    the same co-occurrence table, and nothing left of the shared files."""
    import gzip

    from w2v_spark.cli import demo_corpus_path

    corpus = tmp_path / "slice.txt"
    with gzip.open(demo_corpus_path(), "rt", encoding="utf-8") as lines:
        corpus.write_text("".join(line for _, line in zip(range(400), lines, strict=False)))
    short = ["--input", str(corpus), "--set", "vocab.min_count=3", "--set", "ppmi.vector_size=16",
             "--set", "ppmi.oversample=8", "--set", "ppmi.power_iterations=2"]
    remote, classic = tmp_path / "connect", tmp_path / "classic"
    done = _cli("ppmi", "--output", str(remote), *short, "--remote", connect_url)
    assert done.returncode == 0, done.stderr[-3000:]
    assert main(["ppmi", "--output", str(classic), *short]) == 0  # the tests' classic session
    words, vectors = _vectors(remote)
    classic_words, classic_vectors = _vectors(classic)
    assert words == classic_words and len(words) > 4000  # 4,532 measured (min_count 3)
    np.testing.assert_array_equal(vectors, classic_vectors)
    assert pq.read_table(remote / "cooccurrence").equals(pq.read_table(classic / "cooccurrence"))
    assert sorted(p.name for p in remote.iterdir()) == sorted(p.name for p in classic.iterdir())
    assert not list(tmp_path.glob(".*"))  # no staging or shared files left
