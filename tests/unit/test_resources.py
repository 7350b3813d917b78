"""The resource guard's arithmetic and messages, and how a run that ran out of memory is told."""

import pytest

from w2v_spark.errors import ConfigError
from w2v_spark.spark.resources import (
    check_memory,
    memory_failure,
    model_bytes,
    parse_size,
)


def test_parse_size():
    assert parse_size("512m") == 512 * 2**20
    assert parse_size("2g") == 2 * 2**30 and parse_size("2G") == 2 * 2**30
    assert parse_size("1024", "m") == 2**30 and parse_size("0") == 0
    with pytest.raises(ConfigError, match="cannot read the size"):
        parse_size("lots")


def test_a_model_that_fits_passes_with_its_numbers():
    # bench-en: 33,496 words × 100 dims → 26.8 MB, nothing to fear with the defaults.
    numbers = check_memory(33_496, 100, {})
    assert numbers["model_bytes"] == model_bytes(33_496, 100) == 26_796_800


def test_too_small_a_driver_names_the_setting_and_the_need():
    # 3M words × 300 dims = 7.2 GB of model against a 4 GiB driver.
    with pytest.raises(ConfigError) as err:
        check_memory(3_000_000, 300, {"spark.driver.memory": "4g"})
    message = str(err.value)
    assert "3,000,000 words × 300 dims × 4 B × 2 matrices = 6.71 GiB" in message
    assert "spark.driver.memory is 4.00 GiB, needs ≥ 8.34 GiB" in message


def test_result_size_and_python_worker_limits():
    big = {"spark.driver.memory": "64g"}
    with pytest.raises(ConfigError, match="spark.driver.maxResultSize = 1.00 GiB; raise it to ≥ 2.24 GiB"):
        check_memory(1_000_000, 300, big)
    assert check_memory(1_000_000, 300, {**big, "spark.driver.maxResultSize": "0"})
    with pytest.raises(ConfigError, match="spark.executor.pyspark.memory gives 2.00 GiB per task"):
        check_memory(1_000_000, 300, {**big, "spark.driver.maxResultSize": "0",
                                       "spark.executor.pyspark.memory": "8g"}, tasks_per_executor=4)


def test_a_model_on_the_executors_asks_nothing_of_the_driver_and_its_slices_of_the_workers():
    # 3M words × 300 dims (6.71 GiB): refused for a 512 MB driver when the driver holds it,
    # taken when it stays on the executors in 16 slices.
    small_driver = {"spark.driver.memory": "512m"}
    with pytest.raises(ConfigError, match="does not fit the driver"):
        check_memory(3_000_000, 300, small_driver)
    numbers = check_memory(3_000_000, 300, small_driver, on_executors_of=16)
    assert numbers["model_on_executors"] and numbers["task_bytes"] == 4 * model_bytes(
        3_000_000, 300) // 16
    # 4/16 of the model is 1.68 GiB per task: 2 tasks in a 3 GiB Python budget do not fit.
    with pytest.raises(ConfigError, match=r"4/16 of the model .* = 1.68 GiB, but "
                                          r"spark.executor.pyspark.memory gives 1.50 GiB per task"):
        check_memory(3_000_000, 300, {**small_driver, "spark.executor.pyspark.memory": "3g"},
                     tasks_per_executor=2, on_executors_of=16)
    assert check_memory(3_000_000, 300, {**small_driver, "spark.executor.pyspark.memory": "4g"},
                        tasks_per_executor=2, on_executors_of=16)


# --- running out of memory: which failures are memory, and what the line tells the user to do

LOCAL = {"spark.driver.memory": "2g"}
CLUSTER = {"spark.driver.memory": "2g", "spark.executor.memory": "4g"}


def _raised(first: BaseException, then: BaseException | None = None) -> BaseException:
    """``then`` raised while handling ``first`` (as a failed cleanup would), or ``first``."""
    try:
        try:
            raise first
        except BaseException:
            if then is None:
                raise
            raise then
    except BaseException as err:  # noqa: BLE001
        return err


def test_a_jvm_heap_error_in_local_mode_names_the_stage_and_the_driver_memory():
    err = RuntimeError("Job aborted due to stage failure: Lost task 0.0 in stage 5.0 (executor "
                       "driver): java.lang.OutOfMemoryError: Java heap space")
    line = memory_failure(err, stage="vocabulary", conf=LOCAL, local=True)
    assert line.startswith("out of memory in the vocabulary stage")
    assert "spark.driver.memory (now 2g" in line and "\n" not in line


def test_an_executor_heap_error_on_a_cluster_names_the_executor_memory():
    err = RuntimeError("Lost task 3.0 in stage 7.0 (executor 2): java.lang.OutOfMemoryError")
    line = memory_failure(err, stage="cooccurrence", conf=CLUSTER, local=False)
    assert "in the cooccurrence stage" in line and "spark.executor.memory (now 4g" in line


def test_a_python_workers_memory_error_names_its_limit():
    err = RuntimeError("PythonException: Traceback ...\nMemoryError: Unable to allocate 3.2 GiB")
    conf = {**CLUSTER, "spark.executor.pyspark.memory": "1g"}
    line = memory_failure(err, stage="train", conf=conf, local=False)
    assert "Python worker" in line and "spark.executor.pyspark.memory (now 1g)" in line


def test_a_container_killed_for_memory_names_the_overhead():
    err = RuntimeError("ExecutorLostFailure: Container killed by YARN for exceeding memory limits")
    assert "spark.executor.memoryOverhead" in memory_failure(err, stage="train", conf=CLUSTER,
                                                             local=False)


def test_a_dead_jvm_is_reported_as_such_even_when_the_last_error_hides_it():
    # The job's failure, then a cleanup call that found the JVM gone: the chain holds both.
    err = _raised(RuntimeError("An error occurred while calling o175.collectToPython"),
                  ConnectionRefusedError(111, "Connection refused"))
    line = memory_failure(err, stage="encode", conf=LOCAL, local=True)
    assert line.startswith("the driver's JVM died in the encode stage")
    # A Java error that cannot even say what it is, from a JVM that no longer answers.
    line = memory_failure(RuntimeError("?"), stage=None, conf=LOCAL, local=True, jvm_alive=False)
    assert "died while starting" in line and "spark.driver.memory" in line
    # The same while the dying JVM still answered the session (fresh clone, session 19: the
    # JVM was exiting after its OutOfMemoryError).
    line = memory_failure(_Mute(), stage="input check", conf=LOCAL, local=True, jvm_alive=True)
    assert line.startswith("the driver's JVM died in the input check stage")


class _Mute(Exception):
    """A Java exception whose JVM is gone: asking for its text raises."""

    def __str__(self):
        raise ConnectionRefusedError(111, "Connection refused")


def test_other_failures_are_not_called_memory():
    for err in (ValueError("bad value"), RuntimeError("Job aborted: FileNotFoundException x")):
        assert memory_failure(err, stage="train", conf=LOCAL, local=True) is None
