"""Resource guard: refuse, before training, a model that the configured memory cannot hold.

SGNS keeps two ``vocab × dim`` float32 matrices. Where they live during an epoch:

* stratified training over several partitions, on every master: in slice files on the run's storage; each task's Python worker
  holds its two slices, ≈ 2/P of the model, and reads as much again, ≈ 4/P in all. The driver
  holds O(vocabulary) tables only, and nothing of the model.
* everywhere else (averaging, one partition), the model is on the driver
  between epochs:

  * driver JVM (``spark.driver.memory``): the broadcast of both matrices is stored in its block
    manager, besides Spark's own ~300 MB;
  * ``spark.driver.maxResultSize``: one epoch job's results, at most every row of both matrices;
  * each Python worker (``spark.executor.pyspark.memory`` when set, per executor), per concurrent
    task: in averaging mode the broadcast copy, a working copy and the rows it sends back, ≈ 3 ×
    the model.

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


def check_memory(vocab_size: int, vector_size: int, conf: dict[str, str], tasks_per_executor: int = 1,
                 *, on_executors_of: int = 0) -> dict:
    """Raise :class:`ConfigError` with the numbers when the model cannot fit; else return them.

    Args:
        conf: the running Spark configuration (``spark.*`` → value), e.g. ``dict(sc.getConf().getAll())``.
        tasks_per_executor: training tasks that run at once in one executor (its cores).
        on_executors_of: ``P`` when the model stays on the executors, in ``P`` slices (then only
            the executors' Python workers are checked); 0 when it is on the driver.
    """
    model = model_bytes(vocab_size, vector_size)
    shape = f"{vocab_size:,} words × {vector_size} dims × 4 B × 2 matrices = {_gib(model)}"
    driver = parse_size(conf.get("spark.driver.memory", "1g"), "m")
    worker = conf.get("spark.executor.pyspark.memory")
    if on_executors_of:
        need = 4 * model // on_executors_of
        if worker and parse_size(worker, "m") // max(1, tasks_per_executor) < need:
            raise ConfigError(
                f"each training task holds and reads ≈ 4/{on_executors_of} of the model "
                f"({shape}) = {_gib(need)}, but spark.executor.pyspark.memory gives "
                f"{_gib(parse_size(worker, 'm') // max(1, tasks_per_executor))} per task; raise "
                "it, use more partitions (spark.partitions) or fewer cores per executor"
            )
        return {"model_bytes": model, "driver_memory_bytes": driver,
                "model_on_executors": True, "task_bytes": need}
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
    if worker:
        available = parse_size(worker, "m") // max(1, tasks_per_executor)
        if available < 3 * model:
            raise ConfigError(
                f"each training task needs ≈ 3 × the model ({shape}) = {_gib(3 * model)}, but "
                f"spark.executor.pyspark.memory gives {_gib(available)} per task; raise it or use "
                "fewer cores per executor"
            )
    return {"model_bytes": model, "driver_memory_bytes": driver, "max_result_bytes": results,
            "model_on_executors": False}


# --- running out of memory ------------------------------------------------------------------

#: Text of a failure that means a container or the kernel killed an executor for its memory.
_KILLED_FOR_MEMORY = ("exceeding memory limits", "OOMKilled", "killed by the OOM killer")

#: Exceptions by which Python learns that the JVM it talks to is gone (its socket closed).
_JVM_GONE = (ConnectionRefusedError, ConnectionResetError, BrokenPipeError)


def exception_chain(err: BaseException):
    """``err``, then its causes and contexts, each once."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def _text(err: BaseException) -> str | None:
    """``err``'s type and text; None when it cannot say (a Py4JJavaError asks the JVM for its
    text, and the JVM may be gone)."""
    try:
        return f"{type(err).__name__}: {err}"
    except Exception:  # noqa: BLE001
        return None


def memory_failure(err: BaseException, *, stage: str | None, conf: dict[str, str],
                   local: bool, jvm_alive: bool = True) -> str | None:
    """The one-line explanation of ``err`` when it means that the job ran out of memory — a
    JVM's ``OutOfMemoryError``, a Python worker's ``MemoryError``, an executor killed for its
    memory, or a driver JVM that died under us (in local mode it is the executor too, and heap
    exhaustion is what ends it) — naming ``stage`` and the setting to raise; None otherwise.

    ``conf``: the session's settings as the run started (the JVM may be gone by now);
    ``local``: whether the tasks ran inside the driver's JVM; ``jvm_alive``: whether the driver's
    JVM still answers (a Java exception raised as it died cannot even say what it was, and is
    taken for a dead JVM too).
    """
    chain = list(exception_chain(err))
    texts = [_text(e) for e in chain]
    text = "\n".join(t for t in texts if t is not None)
    where = f"in the {stage} stage" if stage else "while starting"
    driver = (f"spark.driver.memory (now {conf.get('spark.driver.memory', '1g')}; "
              "--set spark.conf.spark.driver.memory=8g, or spark-submit --driver-memory 8g)")
    executor = (f"spark.executor.memory (now {conf.get('spark.executor.memory', '1g')}; "
                "spark-submit --executor-memory)")
    if "java.lang.OutOfMemoryError" in text:
        knob = driver if local or "executor driver" in text else executor
        return f"out of memory {where}: a JVM's heap is full (java.lang.OutOfMemoryError); raise {knob}"
    if any(marker in text for marker in _KILLED_FOR_MEMORY):
        return (f"out of memory {where}: an executor was killed for exceeding its memory; raise "
                "spark.executor.memoryOverhead (Python workers and off-heap memory) or "
                "spark.executor.memory, or give each executor fewer cores")
    if any(type(e).__name__ == "MemoryError" for e in chain) or "MemoryError" in text.replace(
            "OutOfMemoryError", ""):
        limit = conf.get("spark.executor.pyspark.memory")
        knob = (f"raise spark.executor.pyspark.memory (now {limit})" if limit else
                "give the Python workers more memory (fewer cores per executor, or a larger "
                "machine)")
        return f"out of memory {where}: a Python worker could not allocate memory; {knob}"
    # An error that cannot say what it is came from a JVM that is gone, or going: the session
    # may still have answered a moment ago, as the dying JVM had not yet exited.
    if not jvm_alive or None in texts or "Answer from Java side is empty" in text or any(
            isinstance(e, _JVM_GONE) or type(e).__name__ == "Py4JNetworkError" for e in chain):
        return (f"the driver's JVM died {where} (most often: its heap was exhausted); raise "
                f"{driver}")
    return None
