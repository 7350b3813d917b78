"""What the job asks of a session beyond DataFrames, in a classic session and in a Spark Connect
session alike: its settings, its master, its cores, a job description, and values every task
reads (:class:`Shared`).

This is the one seam where the job touches the ``SparkContext``, which a Spark Connect session
does not have. Where the classic session has a public API that pays (a broadcast, the job
descriptions in the Spark UI), it is used here; a Connect session does without it (a file on the
run's storage, no description). Everything else in the job uses DataFrames only.
"""

from __future__ import annotations

import collections
import logging
import pickle
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from w2v_spark.spark.files import FileSystem

log = logging.getLogger(__name__)


def is_connect(spark: SparkSession) -> bool:
    """Whether ``spark`` is a Spark Connect session (``pyspark.sql.connect``)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def conf_of(spark: SparkSession) -> dict[str, str]:
    """The session's Spark settings (``spark.*`` → value): the SparkContext's in a classic
    session, the server session's over Spark Connect."""
    if is_connect(spark):
        return dict(spark.conf.getAll)
    return dict(spark.sparkContext.getConf().getAll())


def master_of(spark: SparkSession) -> str:
    """The session's master URL (``local[2]``, ``spark://…``, ``yarn``; "" if the server does
    not say)."""
    if is_connect(spark):
        return spark.conf.get("spark.master", "") or ""
    return spark.sparkContext.master


#: Connect sessions' cores, measured once per session (a job).
_CORES: dict[str, int] = {}


def cores_of(spark: SparkSession) -> int:
    """The cluster's task slots as Spark's default parallelism counts them. Over Spark Connect,
    which does not expose it: ``spark.default.parallelism`` when set, else the partitions of a
    ``spark.range`` without a partition count (Spark sizes it by the default parallelism),
    counted by one small job per session."""
    if not is_connect(spark):
        return spark.sparkContext.defaultParallelism
    given = spark.conf.get("spark.default.parallelism", None)
    if given:
        return int(given)
    key = spark.session_id
    if key not in _CORES:
        row = (spark.range(0, 1 << 16).select(F.spark_partition_id().alias("partition"))
               .agg(F.max("partition").alias("last")).first())
        _CORES[key] = int(row["last"]) + 1
    return _CORES[key]


def describe(spark: SparkSession, text: str | None) -> None:
    """The description of the jobs this thread starts next, as the Spark UI lists them (None:
    clear it). A Connect session has no job descriptions: nothing happens."""
    if not is_connect(spark):
        spark.sparkContext.setJobDescription(text)


@contextmanager
def job_group(spark: SparkSession, group: str, description: str) -> Iterator[None]:
    """Every job this thread starts inside the block in one job group (the Spark UI lists them
    together, ``SparkContext.cancelJobGroup`` cancels them); the thread's group and description
    are cleared afterwards. Over Spark Connect the jobs carry the tag ``group`` instead
    (``SparkSession.interruptTag`` cancels them)."""
    if is_connect(spark):
        spark.addTag(group)
        try:
            yield
        finally:
            spark.removeTag(group)
        return
    sc = spark.sparkContext
    sc.setJobGroup(group, description)
    try:
        yield
    finally:
        for key in ("spark.jobGroup.id", "spark.job.description"):  # leave the thread as found
            try:
                sc.setLocalProperty(key, None)
            except Exception:  # noqa: BLE001 - the JVM may be gone; the caller's error says so
                pass


@contextmanager
def lent_settings(spark: SparkSession, settings: dict[str, str]) -> Iterator[None]:
    """The session's runtime (SQL) ``settings`` for the block only: its own values come back
    afterwards (a key it never set is unset again)."""
    own = spark.conf.getAll
    before = {key: own.get(key) for key in settings}
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


def answers(spark: SparkSession) -> bool:
    """Whether the session still answers (a local driver's JVM dies of an OutOfMemoryError)."""
    try:
        if is_connect(spark):
            spark.conf.get("spark.master", None)
        else:
            spark.sparkContext.getConf()
        return True
    except Exception:  # noqa: BLE001
        return False


class Shared:
    """A read-only value that every task of the following jobs reads (``value``), held on the
    driver as it is.

    In a classic session it is a broadcast (``SparkContext.broadcast``: each executor fetches it
    once). Over Spark Connect, which has no broadcasts, it is a pickle file in ``directory`` (on
    storage every executor reaches, as the run's work directory is), read once per Python worker
    and kept there for the worker's next tasks; pickled into a task, a ``Shared`` then carries the
    broadcast or the path, not the value. Over Spark Connect without a ``directory`` the value
    travels inside the task's function, through the server's driver (keep it to tens of MB:
    :data:`w2v_spark.ml.CONNECT_TRANSFORM_BYTES`). ``files`` forces (True) or forbids (False)
    the file. :meth:`destroy` releases it.
    """

    #: Values a Python worker keeps, newest last: the few that one stage's tasks read.
    _cache: ClassVar[collections.OrderedDict] = collections.OrderedDict()
    _cache_lock = threading.Lock()
    _CACHE_ENTRIES = 8

    def __init__(self, spark: SparkSession, value, directory: str | None, *,
                 files: bool | None = None):
        self._value, self._broadcast, self.path = value, None, None
        self._inline = is_connect(spark) and directory is None
        if self._inline:
            return
        if files if files is not None else is_connect(spark):
            self.path = f"{directory.rstrip('/')}/shared-{uuid.uuid4().hex}.pickle"
            FileSystem(self.path).write_bytes(
                self.path, iter([pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)]))
        else:
            self._broadcast = spark.sparkContext.broadcast(value)

    def __getstate__(self) -> dict:
        return {"_value": self._value if self._inline else None, "_inline": self._inline,
                "_broadcast": self._broadcast, "path": self.path}

    @property
    def value(self):
        if self._value is not None:
            return self._value
        if self._broadcast is not None:
            return self._broadcast.value
        with Shared._cache_lock:
            if self.path in Shared._cache:
                Shared._cache.move_to_end(self.path)
                return Shared._cache[self.path]
        value = pickle.loads(FileSystem(self.path).read_bytes(self.path))
        with Shared._cache_lock:
            Shared._cache[self.path] = value
            while len(Shared._cache) > Shared._CACHE_ENTRIES:
                Shared._cache.popitem(last=False)
        return value

    def destroy(self) -> None:
        """Release the broadcast, or delete the file."""
        if self._broadcast is not None:
            self._broadcast.destroy()
        elif self.path is not None:
            FileSystem(self.path).delete(self.path)
