"""How many trainers a local master runs at once, and how often it tries a task, read from the
master as Spark reads it (the gang path of a stratified epoch needs one slot per trainer)."""

import pytest

from w2v_spark.spark.session import LocalMaster, local_master


def _no_cores():
    raise AssertionError("cores() is asked only for local[*]")


@pytest.mark.parametrize(("master", "conf", "expected"), [
    ("local", {}, LocalMaster(slots=1, attempts=1)),
    ("local[4]", {}, LocalMaster(slots=4, attempts=1)),
    ("local[2,4]", {}, LocalMaster(slots=2, attempts=4)),
    ("local[ 3 , 2 ]", {}, LocalMaster(slots=3, attempts=2)),
    ("local[4]", {"spark.task.cpus": "2"}, LocalMaster(slots=2, attempts=1)),
    # Spark's spark.task.maxFailures does not apply to local[N]: a local master's N is its rule.
    ("local[2]", {"spark.task.maxFailures": "8"}, LocalMaster(slots=2, attempts=1)),
    ("local-cluster[2, 3, 1024]", {}, LocalMaster(slots=6, attempts=4)),
    ("local-cluster[2,3,1024]", {"spark.task.maxFailures": "2", "spark.task.cpus": "2"},
     LocalMaster(slots=2, attempts=2)),
    ("spark://127.0.0.1:7077", {}, None),
    ("yarn", {}, None),
    ("localhost", {}, None),
])
def test_local_master_reads_slots_and_attempts_as_spark_does(master, conf, expected):
    assert local_master(master, conf, cores=_no_cores) == expected


def test_local_star_takes_the_jvm_cores():
    assert local_master("local[*]", {}, cores=lambda: 6) == LocalMaster(slots=6, attempts=1)
    assert local_master("local[*, 3]", {}, cores=lambda: 6) == LocalMaster(slots=6, attempts=3)
