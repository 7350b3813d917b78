"""SparkSession construction from ``[spark]``."""

from __future__ import annotations

import logging
import os
import re
import shlex
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pyspark
from pyspark.sql import SparkSession

from w2v_spark.config import SparkConfig
from w2v_spark.errors import ConfigError, W2VError
from w2v_spark.spark.context import lent_settings

log = logging.getLogger(__name__)


#: Environment of the executors' Python workers (each key can be overridden in ``[spark.conf]``).
#: glibc's malloc hands large NumPy arrays back to the kernel when they are freed, so every block
#: and every batch of negatives of every task starts on fresh pages: page faults cost a quarter of
#: the map stage's time (bench-en partition: 0.37 → 0.29 s per task, page faults 32k → 0). With
#: these thresholds freed memory stays in the worker for the next array; a worker keeps its peak
#: (a few hundred MB) until it exits.
#:
#: NumPy asks the kernel for transparent huge pages for every large array (``madvise``); where the
#: kernel's THP ``defrag`` setting is ``madvise`` (the usual default) and memory is fragmented, each
#: such first touch stalls in direct compaction. A worker's first tasks paid it (bench-en, local[2]:
#: first epoch 6.5 / 6.9 s with it, 5.7 / 5.9 s without); later epochs, which reuse the worker's
#: memory, ran as fast without huge pages (strata stages 16.2 vs 16.6 s over epochs 2-5).
PYTHON_WORKER_ENV = {
    "spark.executorEnv.MALLOC_MMAP_THRESHOLD_": str(1 << 30),
    "spark.executorEnv.MALLOC_TRIM_THRESHOLD_": str(1 << 32),
    "spark.executorEnv.NUMPY_MADVISE_HUGEPAGE": "0",
}

#: Spark settings of ours for a local master only, where the shuffle never crosses a network:
#:
#: - no compression and no checksums: LZ4 and the checksums ran on the cores the trainers need, and
#:   the model slices (float32) do not compress, the blocks by 20 % (57 → 46 MB per epoch on
#:   bench-en). The JVM's CPU while training: 6.3 s instead of 7.0-7.6 s (bench-en, local[2], four
#:   alternating pairs); the broadcast model's pieces are compressed for executors elsewhere, none
#:   here.
#: - every shuffle written by the sort-based writer: with fewer than 200 partitions Spark's default
#:   writes each partition's records to a file of its own and then copies them all into one (every
#:   block and model slice written twice); the sort-based writer buffers them in memory and writes
#:   once. The JVM's CPU while training: 4.9 / 5.3 s instead of 6.2 / 7.2 s (two alternating
#:   pairs, on top of the above).
LOCAL_MODE_CONF = {
    "spark.shuffle.compress": "false",
    "spark.shuffle.checksum.enabled": "false",
    "spark.broadcast.compress": "false",
    "spark.shuffle.sort.bypassMergeThreshold": "-1",
}


def is_local(master: str) -> bool:
    """Whether ``master`` runs the executors inside the driver's JVM, on this machine."""
    return master.startswith("local")


@contextmanager
def local_workers_python(spark: SparkSession) -> Iterator[None]:
    """Python functions defined inside the block run on this interpreter (``sys.executable``)
    when the session was started with pyspark's default, ``python3`` from ``PATH``, in local
    mode.

    A user's script run with a virtualenv's Python (not activated) starts workers from another
    Python that lacks pyarrow and w2v_spark; MLlib never notices, as it starts no Python workers.
    In local mode the executors are on this machine, so this interpreter is the right one. The
    choice is taken where pyspark takes it, ``SparkContext.pythonExec``, when a function is
    wrapped, and restored on exit. Nothing changes when ``PYSPARK_PYTHON`` is set, on a cluster
    master, or in a Spark Connect session (no SparkContext: the server decides).
    """
    try:
        context = spark.sparkContext
    except Exception:  # noqa: BLE001 - Spark Connect has no SparkContext
        yield
        return
    default = (context.pythonExec == "python3" and "PYSPARK_PYTHON" not in os.environ
               and is_local(context.master))
    if not default:
        yield
        return
    context.pythonExec, found = sys.executable, context.pythonExec
    try:
        yield
    finally:
        context.pythonExec = found


#: Spark SQL settings of ours for every master. ``spark.sql.shuffle.partitions`` stays Spark's
#: (200, or the user's): co-occurrence counting shuffles tens of millions of pairs (34 M on a
#: 30 M-word corpus), which as few as the training partitions (our earlier setting) made into a
#: few huge partitions that a 2 GB heap could not sort and write. Adaptive execution merges the
#: small ones (the vocabulary's); merging them by size alone, not by the master's default
#: parallelism, keeps the count branch's partitions and so its bits the same on every master.
SQL_CONF = {
    "spark.sql.adaptive.coalescePartitions.parallelismFirst": "false",
}


#: The driver's heap for a local master when the job starts the JVM (``python -m w2v_spark``;
#: under spark-submit its ``--driver-memory`` holds). There the driver's JVM is the executors'
#: too: the counting stages' tasks sort and aggregate in it. At Spark's 1 GB the co-occurrence
#: count of a 30 M-word corpus still passes, but its hash aggregation fails to allocate pages and
#: logs ``java.lang.OutOfMemoryError`` stack traces before it spills; at 2 GB it does not.
LOCAL_DRIVER_MEMORY = {"spark.driver.memory": "2g"}


def default_conf(master: str) -> dict[str, str]:
    """Our defaults for Spark settings the user did not set, for ``master``."""
    defaults = {**PYTHON_WORKER_ENV, **SQL_CONF}
    if is_local(master):
        defaults.update({**LOCAL_MODE_CONF, **LOCAL_DRIVER_MEMORY})
    return defaults


def launched_by_spark_submit() -> bool:
    """spark-submit starts the JVM first and hands the Python driver its gateway port."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


#: Settings of the driver's own JVM: they take effect only when the JVM starts.
DRIVER_JVM_KEYS = ("spark.driver.memory", "spark.driver.extraJavaOptions",
                   "spark.driver.defaultJavaOptions", "spark.driver.extraClassPath",
                   "spark.driver.extraLibraryPath")

_PROPERTY = re.compile(r"\s*([^\s=:#!][^\s=:]*)\s*[=:\s]\s*(.*?)\s*")


def launcher_settings(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """What Spark's launcher will set when pyspark starts a JVM for ``python -m w2v_spark``:
    ``spark-defaults.conf`` (in ``SPARK_CONF_DIR``, else ``SPARK_HOME/conf``, else the pyspark
    package's ``conf/``) and ``--conf``, ``--master``, ``--driver-memory`` ... in
    ``PYSPARK_SUBMIT_ARGS``, the latter winning, as in ``spark-submit``. Both win over the TOML's
    ``[spark.conf]``."""
    environ = os.environ if environ is None else environ
    home = environ.get("SPARK_HOME") or str(Path(pyspark.__file__).parent)
    directory = Path(environ.get("SPARK_CONF_DIR") or Path(home) / "conf")
    settings: dict[str, str] = {}
    try:
        text = (directory / "spark-defaults.conf").read_text(encoding="utf-8")
    except OSError:
        text = ""
    for line in text.splitlines():
        match = _PROPERTY.fullmatch(line)
        if match and match.group(1).startswith("spark."):
            settings[match.group(1)] = match.group(2)
    args = shlex.split(environ.get("PYSPARK_SUBMIT_ARGS", ""))
    for flag, value in zip(args, args[1:], strict=False):
        if flag == "--conf" and "=" in value:
            key, _, setting = value.partition("=")
            settings[key] = setting
        elif flag in _SUBMIT_FLAGS:
            settings[_SUBMIT_FLAGS[flag]] = value
    return settings


#: spark-submit's own flags for settings (the rest go through ``--conf``).
_SUBMIT_FLAGS = {"--master": "spark.master", "--name": "spark.app.name",
                 "--driver-memory": "spark.driver.memory",
                 "--executor-memory": "spark.executor.memory",
                 "--executor-cores": "spark.executor.cores",
                 "--num-executors": "spark.executor.instances",
                 "--total-executor-cores": "spark.cores.max"}


def _setting(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _join_spark_submit(config: SparkConfig) -> SparkSession:
    """Under ``spark-submit``: its settings (``--conf``, ``--driver-memory``,
    ``spark-defaults.conf``) win over the TOML's ``[spark.conf]``, which fills in only what they
    left unset. spark-submit's settings reach only the JVM, so the session starts with them alone;
    then the TOML's missing settings apply — a runtime setting directly, a static one by
    starting the SparkContext again with it (logged), a setting of the driver's JVM
    (``spark.driver.memory`` ...) not at all, with a warning: that JVM is running. Of our own
    defaults (:func:`default_conf`) only the runtime ones apply: the static ones (the workers'
    environment, local mode's shuffle settings) are tuning, not worth a second SparkContext."""
    spark = SparkSession.builder.getOrCreate()
    given = dict(spark.sparkContext.getConf().getAll())
    overridden = [f"{key} = {given[key]}" for key, value in config.conf.items()
                  if key in given and given[key] != _setting(value)]
    if overridden:
        log.info("spark-submit's settings win over [spark.conf]: %s", ", ".join(overridden))
    missing = {key: _setting(value) for key, value in config.conf.items() if key not in given}
    for key in [key for key in missing if key in DRIVER_JVM_KEYS]:
        log.warning("[spark.conf] %s = %s not applied: spark-submit started the driver's JVM "
                    "already; pass it to spark-submit (--driver-memory, --conf)", key,
                    missing.pop(key))
    static = {key: value for key, value in missing.items() if not spark.conf.isModifiable(key)}
    if static:
        log.info("[spark.conf] %s: not set by spark-submit; starting the SparkContext again "
                 "with them", ", ".join(f"{key} = {value}" for key, value in static.items()))
        spark.stop()
        builder = SparkSession.builder
        for key, value in static.items():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
    for key, value in {**SQL_CONF, **missing}.items():
        if key not in static and key not in given:
            spark.conf.set(key, value)
    return spark


def build_session(config: SparkConfig) -> SparkSession:
    """Start (or join) the SparkSession.

    Settings come, highest first, from ``spark-submit`` (its ``--conf``, ``--driver-memory``,
    ``--master``, ``spark-defaults.conf``) or, for a JVM pyspark starts, from
    ``spark-defaults.conf`` and ``PYSPARK_SUBMIT_ARGS`` (:func:`launcher_settings`); then the
    TOML's ``[spark]`` / ``[spark.conf]``; then our defaults (:func:`default_conf`). An active
    session (a notebook's, the tests') is joined as it is: none of these apply to it, and its
    log level stays (:func:`spark_session` lends it our SQL settings for the run only).
    Executors run the same Python as the driver unless ``PYSPARK_PYTHON`` says otherwise.
    """
    remote = remote_of(config)
    if remote:
        return _connect(remote, config)
    active = SparkSession.getActiveSession()
    if active is not None:
        log.info("joining the active Spark session as it is (master %s; [spark] settings do "
                 "not apply to it)", active.conf.get("spark.master", "?"))
        return active
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if launched_by_spark_submit():
        spark = _join_spark_submit(config)
        return _started(spark)
    launcher = launcher_settings()
    shadowed = sorted(key for key in config.conf if key in launcher)
    if shadowed:
        log.info("spark-defaults.conf / PYSPARK_SUBMIT_ARGS win over [spark.conf]: %s",
                 ", ".join(f"{key} = {launcher[key]}" for key in shadowed))
    conf = {key: value for key, value in config.conf.items() if key not in launcher}
    master = launcher.get("spark.master", config.master)
    builder = SparkSession.builder
    if "spark.app.name" not in launcher:
        builder = builder.appName(config.app_name)
    if "spark.master" not in launcher:
        builder = builder.master(config.master)
    # Our one log line per stage/epoch is the progress report; the console bar garbles logs.
    defaults = {"spark.ui.showConsoleProgress": "false", **default_conf(master)}
    for key, value in defaults.items():
        if key not in conf and key not in launcher:
            builder = builder.config(key, value)
    for key, value in conf.items():
        builder = builder.config(key, _setting(value))
    try:
        spark = builder.getOrCreate()
    except Exception as err:  # noqa: BLE001 - the launcher raises a bare RuntimeError/PySparkException
        if "JAVA_GATEWAY_EXITED" in str(err) or "Java gateway" in str(err):
            raise W2VError(
                "could not start Spark: Java 17 or newer is required (install a JDK and set JAVA_HOME)"
            ) from None
        raise
    return _started(spark)


def remote_of(config: SparkConfig) -> str:
    """The Spark Connect server a run uses: ``[spark] remote`` (the CLI's ``--remote``), else
    ``SPARK_REMOTE`` as pyspark reads it; "" for a classic session."""
    return config.remote or os.environ.get("SPARK_REMOTE", "")


def _connect(remote: str, config: SparkConfig) -> SparkSession:
    """A session on the Spark Connect server ``remote`` (``sc://host:port``). The server fixed
    its master and static settings when it started: of ``[spark.conf]`` only the settings a
    session may change apply (logged otherwise), as do our SQL defaults (:data:`SQL_CONF`)."""
    try:
        spark = SparkSession.builder.remote(remote).getOrCreate()
    except ImportError as err:
        raise ConfigError(f"Spark Connect needs its client packages: pip install "
                          f"'w2v_spark[connect]' ({err})") from None
    ignored = []
    for key, value in {**SQL_CONF, **config.conf}.items():
        if spark.conf.isModifiable(key):
            spark.conf.set(key, _setting(value))
        elif key in config.conf:
            ignored.append(key)
    if ignored:
        log.info("[spark.conf] %s not applied: the Spark Connect server's settings hold",
                 ", ".join(sorted(ignored)))
    log.info("Spark %s over Spark Connect at %s", spark.version, remote)
    return spark


def _started(spark: SparkSession) -> SparkSession:
    spark.sparkContext.setLogLevel("WARN")
    log.info("Spark %s, master %s, default parallelism %d", spark.version,
             spark.sparkContext.master, spark.sparkContext.defaultParallelism)
    return spark


@contextmanager
def _lent_sql_settings(spark: SparkSession) -> Iterator[None]:
    """:data:`SQL_CONF` in a session we joined, for the run only: its own values come back
    afterwards (a key it never set is unset again)."""
    with lent_settings(spark, SQL_CONF):
        yield


@contextmanager
def spark_session(config: SparkConfig) -> Iterator[SparkSession]:
    """The session for one command: reuses an active one (a notebook's, the tests'), otherwise
    starts one and stops it on the way out."""
    owned = SparkSession.getActiveSession() is None
    spark = build_session(config)
    failed = False
    try:
        if owned:
            yield spark
        else:
            with _lent_sql_settings(spark):
                yield spark
    except BaseException:
        failed = True
        raise
    finally:
        if owned:
            try:
                spark.stop()
            except Exception:  # noqa: BLE001
                # After an OutOfMemoryError the JVM may be gone: stopping then fails too, and
                # must not replace the error that ended the run.
                if not failed:
                    raise
                log.debug("stopping Spark after a failure", exc_info=True)

