"""The resource guard's arithmetic and messages."""

import pytest

from w2v_spark.errors import ConfigError
from w2v_spark.resources import check_memory, model_bytes, parse_size


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
