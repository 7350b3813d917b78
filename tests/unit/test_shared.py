"""``Shared`` as a Spark Connect session uses it: the value in a file on the run's storage, the
task's copy a path that reads it once per worker (no Spark needed: the file mode is forced)."""

import pickle

import numpy as np

from w2v_spark.spark.context import Shared


def test_a_shared_file_travels_as_its_path_and_reads_back_the_value(tmp_path):
    value = {"table": np.arange(200_000, dtype=np.int64), "name": "deals"}
    shared = Shared(None, value, str(tmp_path / "work"), files=True)
    files = list((tmp_path / "work").iterdir())
    assert [p.name for p in files] == [shared.path.rsplit("/", 1)[1]]
    assert shared.value is value  # the driver keeps its own object
    task = pickle.dumps(shared)
    assert len(task) < 1_000  # 165 bytes measured: the 1.6 MB table is not in the task
    worker = pickle.loads(task)
    found = worker.value
    assert found["name"] == "deals"
    np.testing.assert_array_equal(found["table"], value["table"])
    assert pickle.loads(task).value is found  # read once per worker, then kept
    shared.destroy()
    assert list((tmp_path / "work").iterdir()) == []
    shared.destroy()  # twice: nothing left to delete, no error


def test_a_worker_keeps_only_the_newest_shared_values(tmp_path):
    handles = [Shared(None, [k], str(tmp_path), files=True) for k in range(Shared._CACHE_ENTRIES + 2)]
    copies = [pickle.loads(pickle.dumps(h)) for h in handles]
    assert [c.value for c in copies] == [[k] for k in range(len(handles))]
    assert handles[0].path not in Shared._cache and handles[-1].path in Shared._cache
    assert len([p for p in Shared._cache if p.startswith(str(tmp_path))]) == Shared._CACHE_ENTRIES
