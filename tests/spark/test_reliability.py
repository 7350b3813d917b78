"""Checkpoints, resume and task retries: interrupted runs end with the bits of undisturbed ones."""

import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from w2v_spark.cli import main
from w2v_spark.sgns.checkpoint import Checkpoints

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[2]
RUN = ["--set", "vocab.min_count=2", "--set", "sgns.vector_size=12", "--set", "sgns.epochs=3",
       "--set", "sgns.window=3", "--set", "spark.partitions=2", "--set", "output.word2vec_text=false"]


@pytest.fixture(scope="module")
def reference(spark, topic_corpus, tmp_path_factory):
    """An undisturbed run."""
    out = tmp_path_factory.mktemp("ref") / "run"
    assert main(["train", "--input", topic_corpus, "--output", str(out), *RUN]) == 0
    assert not (out.parent / ".run._checkpoints").exists()  # removed after the commit
    return pq.read_table(out / "embeddings")


def test_resume_after_a_crash_gives_the_uninterrupted_result(spark, topic_corpus, reference,
                                                             tmp_path, capsys, caplog):
    out = tmp_path / "run"
    checkpoints = tmp_path / ".run._checkpoints"
    assert main(["train", "--input", topic_corpus, "--output", str(out), *RUN,
                 "--set", "debug.fail_after_epoch=2"]) == 1
    assert "stopping after epoch 2" in capsys.readouterr().err
    # The model on the executors: the newest checkpoint is kept, the one before it deleted once
    # the newest is complete.
    assert not out.exists() and sorted(os.listdir(checkpoints)) == ["epoch=2"]

    # A changed setting is refused, naming it; the checkpoint stays.
    assert main(["train", "--input", topic_corpus, "--output", str(out), *RUN, "--resume",
                 "--set", "sgns.negative=3"]) == 2
    assert "different settings (sgns.negative)" in capsys.readouterr().err
    assert not out.exists() and (checkpoints / "epoch=2" / "_COMPLETE").exists()

    with caplog.at_level(logging.INFO, logger="w2v_spark"):
        assert main(["train", "--input", topic_corpus, "--output", str(out), *RUN, "--resume"]) == 0
    assert "resuming after epoch 2" in caplog.text
    assert pq.read_table(out / "embeddings").equals(reference)
    assert not checkpoints.exists()


def test_killed_task_is_retried_and_changes_nothing(reference, topic_corpus, tmp_path):
    # Its own JVM, with a master that allows task retries (local[2, 4 attempts]); in epoch 2
    # the first attempt of partition 1's block-cutting task kills its Python worker, and so
    # does trainer 1's in its second stratum: Spark retries each task.
    out = tmp_path / "run"
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable)
    done = subprocess.run(
        [sys.executable, "-m", "w2v_spark", "train", "--input", topic_corpus, "--output", str(out),
         *RUN, "--set", "spark.master=local[2,4]", "--set", "debug.fail_task_once=2:1"],
        capture_output=True, text=True, timeout=300, env=env, cwd=ROOT, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("Python worker exited unexpectedly") >= 2  # both failures happened
    assert "the model on the executors" in done.stderr
    assert pq.read_table(out / "embeddings").equals(reference)


def test_local_checkpoints_keep_two_and_overwrite_the_older_in_place(spark, tmp_path):
    rng = np.random.default_rng(0)
    checkpoints = Checkpoints(spark, str(tmp_path / "run"), {"sgns": {"epochs": 4}}, "vocab")
    root = tmp_path / ".run._checkpoints"
    states = {}
    for epoch in (1, 2, 3, 4):
        states[epoch] = (rng.random((30, 6), dtype=np.float32), rng.random((30, 6), dtype=np.float32))
        checkpoints.save(epoch, *states[epoch], reports=[{"epoch": epoch}])
        if epoch == 1:
            first_inode = (root / "epoch=1" / "syn0.npy").stat().st_ino
        assert sorted(os.listdir(root)) == [f"epoch={e}" for e in range(max(1, epoch - 1), epoch + 1)]
    # Epoch 3 was written into epoch 1's files (the same inode: no new pages), epoch 4 into 2's.
    assert (root / "epoch=3" / "syn0.npy").stat().st_ino == first_inode
    newest, syn0, syn1, reports = checkpoints.latest()
    assert newest == 4 and reports == [{"epoch": 4}]
    np.testing.assert_array_equal(syn0, states[4][0])
    np.testing.assert_array_equal(syn1, states[4][1])
    # A smaller matrix overwritten in place: the file ends where the new content ends.
    checkpoints.save(5, states[1][0][:3], states[1][1][:3], reports=[])
    np.testing.assert_array_equal(checkpoints.latest()[1], states[1][0][:3])
    expected = io.BytesIO()
    np.save(expected, states[1][0][:3])
    assert (root / "epoch=5" / "syn0.npy").read_bytes() == expected.getvalue()
