"""Resource guard: refuse, before training, a model that the configured memory cannot hold.

SGNS keeps two ``vocab × dim`` float32 matrices. Where they live during an epoch:

* driver JVM (``spark.driver.memory``): the broadcast of both matrices is stored in its block
  manager, besides Spark's own ~300 MB;
* ``spark.driver.maxResultSize``: one epoch job's results, at most every row of both matrices;
* each Python worker (``spark.executor.pyspark.memory`` when set, per executor), per concurrent
  task: in averaging mode the broadcast copy, a working copy and the rows it sends back, ≈ 3 × the
  model; in stratified mode the broadcast and two slices in an epoch's first stratum, ≈ (1 + 2/P)
  × the model, then only the slices. The guard asks for the larger.

The driver's Python process holds the model and one job's results; Spark does not bound it.
"""

from __future__ import annotations

import re

from w2v_spark.errors import ConfigError

_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
SPARK_RESERVED = 300 * 2**20


def parse_size(text: str, default_unit: str = "b") -> int:
    """Spark's size strings (``512m``, ``2g``, ``1024``) → bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)b?\s*", str(text).lower())
    if not match:
        raise ConfigError(f"cannot read the size {text!r}")
    unit = match.group(2) or default_unit
    return int(float(match.group(1)) * _UNITS[unit])


def model_bytes(vocab_size: int, vector_size: int) -> int:
    return 2 * vocab_size * vector_size * 4


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


def check_memory(vocab_size: int, vector_size: int, conf: dict[str, str], tasks_per_executor: int = 1) -> dict:
    """Raise :class:`ConfigError` with the numbers when the model cannot fit; else return them.

    Args:
        conf: the running Spark configuration (``spark.*`` → value), e.g. ``dict(sc.getConf().getAll())``.
        tasks_per_executor: training tasks that run at once in one executor (its cores).
    """
    model = model_bytes(vocab_size, vector_size)
    shape = f"{vocab_size:,} words × {vector_size} dims × 4 B × 2 matrices = {_gib(model)}"
    driver = parse_size(conf.get("spark.driver.memory", "1g"), "m")
    need = int(model * 1.2) + SPARK_RESERVED
    if driver < need:
        raise ConfigError(
            f"the model ({shape}) does not fit the driver: spark.driver.memory is {_gib(driver)}, "
            f"needs ≥ {_gib(need)} (the model's broadcast + Spark's reserve); raise "
            "spark.driver.memory, or lower vocab.max_vocab_size / sgns.vector_size"
        )
    results = parse_size(conf.get("spark.driver.maxResultSize", "1g"), "m")
    if results and results < model:
        raise ConfigError(
            f"one epoch job can return every row of the model ({shape}), more than "
            f"spark.driver.maxResultSize = {_gib(results)}; raise it to ≥ {_gib(model)} (or 0)"
        )
    worker = conf.get("spark.executor.pyspark.memory")
    if worker:
        available = parse_size(worker, "m") // max(1, tasks_per_executor)
        if available < 3 * model:
            raise ConfigError(
                f"each training task needs ≈ 3 × the model ({shape}) = {_gib(3 * model)}, but "
                f"spark.executor.pyspark.memory gives {_gib(available)} per task; raise it or use "
                "fewer cores per executor"
            )
    return {"model_bytes": model, "driver_memory_bytes": driver, "max_result_bytes": results}
