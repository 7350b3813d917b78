"""The benchmark harness: bookkeeping for reference systems (no reference system needed), and
how it watches a job (real child processes)."""

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from benchmarks.bench import JobFailed, TreeMonitor, _count_words, _timed, main, write_result
from w2v_spark.vectors.embeddings import Embeddings


def test_reference_vectors_get_corpus_counts_and_count_order_after_timing(tmp_path):
    # MLlib's child writes its vectors without counts (counting is not MLlib's work); the parent
    # adds them, as ours are ordered: descending count, ties by word.
    documents = tmp_path / "documents.txt"
    documents.write_text("b a c a\nc a b d\n", encoding="utf-8")
    words = ["a", "b", "c", "d"]
    vectors = np.arange(8, dtype=np.float32).reshape(4, 2)
    out = tmp_path / "out"
    write_result(str(out), words, np.zeros(4, dtype=np.int64), vectors, 0, 5)
    _count_words(documents, out)
    loaded = Embeddings.load(out)
    assert loaded.words == ["a", "b", "c", "d"]  # a: 3, then b and c: 2 (by word), d: 1
    np.testing.assert_array_equal(loaded.counts, [3, 2, 2, 1])
    np.testing.assert_array_equal(loaded.vectors, vectors)  # each word keeps its own vector
    assert json.loads((out / "_manifest.json").read_text())["corpus"]["tokens"] == 8


def test_reordering_moves_each_vector_with_its_word(tmp_path):
    documents = tmp_path / "documents.txt"
    documents.write_text("z z z y y x\n", encoding="utf-8")
    vectors = np.array([[1, 1], [2, 2], [3, 3]], dtype=np.float32)  # x, y, z
    out = tmp_path / "out"
    write_result(str(out), ["x", "y", "z"], np.zeros(3, dtype=np.int64), vectors, 0, 5)
    _count_words(documents, out)
    loaded = Embeddings.load(out)
    assert loaded.words == ["z", "y", "x"]
    np.testing.assert_array_equal(loaded.vectors, vectors[::-1])


def test_the_harness_wants_a_corpus(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
    assert "--corpus is required" in capsys.readouterr().err


def _child(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_failing_job_that_floods_its_output_is_reported_not_waited_for(tmp_path):
    # 4 MB of log, far more than a pipe holds: a harness that reads the output only after the
    # job ends would wait for ever (the job blocks writing); this one sends it to a file.
    flood = ("import sys\nfor i in range(40000): print('x' * 100, file=sys.stderr)\n"
             "print('error: out of memory in the vocabulary stage', file=sys.stderr)\n"
             "sys.exit(2)")
    started = time.monotonic()
    with pytest.raises(JobFailed) as failed:
        _timed("flood", _child(flood), tmp_path / "run")
    assert time.monotonic() - started < 60
    assert "exit code 2" in str(failed.value)
    assert "error: out of memory in the vocabulary stage" in str(failed.value)
    assert (tmp_path / "run.log").stat().st_size > 4_000_000


def test_a_killed_job_is_reported_with_its_signal(tmp_path):
    with pytest.raises(JobFailed, match="killed by signal 9"):
        _timed("killed", _child("import os, signal; os.kill(os.getpid(), signal.SIGKILL)"),
               tmp_path / "run")


def test_the_monitor_follows_the_jobs_stages_and_their_memory(tmp_path):
    # The stage is the last "<stage> ..." line of the job's log (epochs.Split's format); the
    # child holds ~200 MB only in its second stage.
    log_line = "2026-01-01 00:00:00,000 INFO w2v_spark.pipeline: {} ..."
    code = ("import sys, time\n"
            f"print({log_line.format('small')!r}, flush=True); time.sleep(1.0)\n"
            f"print({log_line.format('large')!r}, flush=True)\n"
            "block = bytearray(200 * 2**20); time.sleep(1.0)\n")
    log_path = tmp_path / "job.log"
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen(_child(code), stdout=log_file, stderr=subprocess.STDOUT)
    monitor = TreeMonitor(proc.pid, interval=0.05, log_path=log_path)
    monitor.run(proc)
    assert proc.returncode == 0
    peaks = monitor.stage_peak_mb
    assert peaks["large"]["driver"] > 200 > peaks["small"]["driver"]


def test_cluster_benchmark_reads_counts_from_an_event_log(tmp_path):
    """Jobs, stages run, tasks, shuffle bytes written and result bytes to the driver, from
    Spark's event-log lines (a rolling log's files are summed)."""
    import json

    from benchmarks.cluster import event_counts

    events = [
        {"Event": "SparkListenerJobStart", "Job ID": 0},
        {"Event": "SparkListenerStageCompleted"},
        {"Event": "SparkListenerTaskEnd", "Task Type": "ShuffleMapTask",
         "Task Metrics": {"Shuffle Write Metrics": {"Shuffle Bytes Written": 700},
                          "Result Size": 5}},
        {"Event": "SparkListenerTaskEnd", "Task Type": "ResultTask",
         "Task Metrics": {"Result Size": 4000}},
        {"Event": "SparkListenerStageSubmitted"},  # submitted, not completed: not counted
    ]
    rolled = tmp_path / "eventlog_v2_app" / "events_1_app"
    rolled.parent.mkdir()
    rolled.write_text("\n".join(json.dumps(e) for e in events[:3]) + "\n")
    (tmp_path / "eventlog_v2_app" / "events_2_app").write_text(
        "\n".join(json.dumps(e) for e in events[3:]) + "\n")
    assert event_counts(tmp_path) == dict(jobs=1, stages=1, tasks=2, shuffle_written=700,
                                          to_driver=4000)
