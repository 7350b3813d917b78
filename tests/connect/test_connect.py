"""Commands against a real Spark Connect server, which this module starts
(``start-connect-server.sh`` from the pyspark package, ``local[2]``, on a free port on
127.0.0.1) and stops, even when a test fails.

What runs under Connect so far (#22): ``neighbors`` (DataFrame operations only). ``train`` and
``ppmi`` still use RDDs and broadcasts: under ``--remote`` or ``SPARK_REMOTE`` they refuse in one
line, exit 2, before touching the output.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from benchmarks.standalone import SPARK_HOME, free_port, spark_env
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


@pytest.mark.parametrize("command", ["train", "ppmi"])
def test_training_refuses_a_connect_session_in_one_line(connect_url, tmp_path, command):
    out = tmp_path / "run"
    done = _cli(command, "--output", str(out), "--remote", connect_url, timeout=120)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [f"error: {command} does not run under Spark Connect yet (it still uses "
                     "RDDs and broadcasts): drop --remote / SPARK_REMOTE and run it with "
                     "spark-submit or a local master"]
    assert not out.exists() and not list(tmp_path.iterdir())
