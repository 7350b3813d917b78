"""SparkSession construction from ``[spark]``."""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import re
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen

import pyspark
from pyspark import SparkContext
from pyspark.find_spark_home import _find_spark_home
from pyspark.sql import SparkSession

from w2v_spark.config import SparkConfig
from w2v_spark.errors import W2VError

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
    context.pythonExec = sys.executable
    try:
        yield
    finally:
        context.pythonExec = "python3"


@dataclass(frozen=True)
class LocalMaster:
    """A local master's task slots (tasks it runs at once) and attempts per task."""

    slots: int
    attempts: int


_LOCAL = re.compile(r"local(?:\[\s*(\d+|\*)\s*(?:,\s*(\d+)\s*)?\])?")
_LOCAL_CLUSTER = re.compile(r"local-cluster\[\s*(\d+)\s*,\s*(\d+)\s*,\s*\d+\s*\]")


def local_master(master: str, conf: dict[str, str], cores: Callable[[], int]) -> LocalMaster | None:
    """What a local ``master`` runs, as Spark reads it: ``local`` one task at a time,
    ``local[N]`` / ``local[*]`` ``N`` / ``cores()`` tasks, each tried once; ``local[N, F]`` tried
    ``F`` times; ``local-cluster[W, C, M]`` ``W × C`` tasks tried ``spark.task.maxFailures``
    times. Slots count ``spark.task.cpus`` cores per task. ``None`` for any other master."""
    task_cpus = int(conf.get("spark.task.cpus", "1"))
    if match := _LOCAL.fullmatch(master):
        threads, attempts = match.groups()
        cores_used = 1 if threads is None else cores() if threads == "*" else int(threads)
        return LocalMaster(slots=cores_used // task_cpus, attempts=max(1, int(attempts or 1)))
    if match := _LOCAL_CLUSTER.fullmatch(master):
        workers, cores_each = map(int, match.groups())
        return LocalMaster(slots=workers * (cores_each // task_cpus),
                           attempts=max(1, int(conf.get("spark.task.maxFailures", "4"))))
    return None


def keep_freed_memory() -> bool:
    """For this process (the driver), what ``PYTHON_WORKER_ENV``'s ``MALLOC_*`` settings do for
    the workers: glibc keeps freed memory for the next large array instead of unmapping it and
    faulting fresh pages in next time. (The environment is read when the process starts, too
    early for us to set; ``mallopt`` changes the same two thresholds now.)

    Every epoch the driver receives the model's slices (27 MB on bench-en), merges them and frees
    them; fresh pages for them cost ≈ 0.05 CPU s per epoch on the VM of BENCHMARKS.md, on the
    cores the trainers need in local mode. Returns whether glibc took both settings (False
    elsewhere, e.g. musl or macOS, where nothing changes)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    # mallopt takes a C int: the largest thresholds it can express (the env vars say 1 GiB / 4 GiB).
    return bool(mallopt(m_mmap_threshold, 1 << 30)) and bool(mallopt(m_trim_threshold, 2**31 - 1))


#: Spark SQL settings of ours for every master. ``spark.sql.shuffle.partitions`` stays Spark's
#: (200, or the user's): co-occurrence counting shuffles tens of millions of pairs (34 M on a
#: 30 M-word corpus), which as few as the training partitions (our earlier setting) made into a
#: few huge partitions that a 2 GB heap could not sort and write. Adaptive execution merges the
#: small ones (the vocabulary's); merging them by size alone, not by the master's default
#: parallelism, keeps the count branch's partitions and so its bits the same on every master.
SQL_CONF = {
    "spark.sql.adaptive.coalescePartitions.parallelismFirst": "false",
}


def default_conf(master: str) -> dict[str, str]:
    """Our defaults for Spark settings the user did not set, for ``master``."""
    defaults = {**PYTHON_WORKER_ENV, **SQL_CONF}
    if is_local(master):
        defaults.update(LOCAL_MODE_CONF)
    return defaults


#: First bytes of a finished dynamic class-data-sharing archive (HotSpot's
#: ``CDS_DYNAMIC_ARCHIVE_MAGIC`` 0xf00baba8, little-endian). The JVM writes the header last, so a
#: dump cut short does not start with it.
_ARCHIVE_MAGIC = bytes.fromhex("a8ab0bf0")

#: Silences the JVM's class-data-sharing log: the dump warns about every class it skips (signed
#: jars, old class files: ~1,000 lines on Spark's classpath), none of it actionable.
_QUIET_CDS = "-Xlog:cds=off -Xlog:cds+dynamic=off"


@dataclass(frozen=True)
class ClassArchive:
    """The driver JVM's class-data-sharing archive: ``path`` when it exists; otherwise this run
    dumps one to ``staging`` as its JVM exits, and :func:`publish_class_archive` moves it to
    ``path``."""

    path: Path
    staging: Path | None = None

    def java_options(self) -> str:
        if self.staging is None:
            # Should the JVM crash on the archive, its crash report goes beside it, not into the
            # user's working directory.
            return (f"-XX:SharedArchiveFile={self.path} {_QUIET_CDS} "
                    f"-XX:ErrorFile={self.path.parent}/hs_err_pid%p.log")
        return f"-XX:ArchiveClassesAtExit={self.staging} {_QUIET_CDS}"


def cache_directory() -> Path:
    """``$W2V_SPARK_CACHE_DIR``, else ``$XDG_CACHE_HOME/w2v_spark``, else ``~/.cache/w2v_spark``."""
    if os.environ.get("W2V_SPARK_CACHE_DIR"):
        return Path(os.environ["W2V_SPARK_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "w2v_spark"


def class_archive(setting: str) -> ClassArchive | None:
    """The archive for the JVM this process is about to start (``setting``: ``[spark]
    class_archive``), or None (``"off"``, no Java found, or a directory we cannot write).

    The JVM spends its first seconds loading and verifying ≈ 25,000 of Spark's classes; an
    archive of them, mapped at start, skips most of that (bench-en end to end: −3 to −5 s). An
    archive is valid for one JVM build and one Spark classpath, so its name is a digest of the
    ``java`` that spark-submit will run (path, size, mtime) and of Spark's jars; HotSpot checks
    both again when it maps it and runs without the archive if they differ."""
    if setting == "off":
        return None
    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    if not java or not os.path.exists(java):
        return None
    java = os.path.realpath(java)
    jars = Path(os.environ.get("SPARK_HOME") or _find_spark_home()) / "jars"
    digest = hashlib.sha256()
    stat = os.stat(java)
    digest.update(f"{java}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    for jar in sorted(jars.glob("*.jar")):
        digest.update(f"{jar.name}\0{jar.stat().st_size}\0".encode())
    directory = cache_directory() if setting == "auto" else Path(setting).expanduser()
    path = directory / f"spark-{pyspark.__version__}-{digest.hexdigest()[:16]}.jsa"
    if path.is_file():
        return ClassArchive(path)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        log.info("no JVM class archive: cannot create %s (%s)", directory, err.strerror)
        return None
    if not os.access(directory, os.W_OK):
        log.info("no JVM class archive: %s is not writable", directory)
        return None
    for stale in directory.glob(f"{path.name}.*.partial"):
        # Left by a process that ended before it could publish (its JVM failed to start, or
        # was killed): removed once that process is gone.
        owner = stale.name.rsplit(".", 2)[-2]
        if not owner.isdigit() or not _alive(int(owner)):
            stale.unlink(missing_ok=True)
    return ClassArchive(path, staging=path.with_name(f"{path.name}.{os.getpid()}.partial"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        pass
    return True


def publish_class_archive(archive: ClassArchive, jvm: Popen | None) -> None:
    """After ``spark.stop()``: end ``jvm`` (the gateway process this run started; it dumps the
    archive as it exits), then publish the dump under its final name by one rename, so a JVM
    never maps a half-written archive (which crashes it). A dump that did not finish is
    deleted. ``jvm`` None: no JVM to end (only the dump is judged)."""
    if jvm is not None:
        log.info("writing the JVM class archive (once per JDK and Spark; ≈ 15 s) ...")
        gateway = SparkContext._gateway
        if gateway is not None and getattr(gateway, "proc", None) is jvm:
            try:
                gateway.shutdown()
            except Exception:  # noqa: BLE001 - the JVM is ending anyway
                pass
            SparkContext._gateway = None
            SparkContext._jvm = None
        # The gateway JVM exits when its stdin closes (what happens when Python exits).
        jvm.stdin.close()
        try:
            jvm.wait(timeout=600)
        except Exception:  # noqa: BLE001 - a JVM that does not end leaves no archive
            jvm.kill()
    staging = archive.staging
    try:
        with open(staging, "rb") as dump:
            finished = dump.read(4) == _ARCHIVE_MAGIC
    except OSError:
        finished = False
    if finished and jvm is not None and jvm.returncode == 0:
        os.replace(staging, archive.path)
        log.info("JVM class archive written to %s (%d MB); later runs start faster",
                 archive.path, archive.path.stat().st_size >> 20)
    else:
        staging.unlink(missing_ok=True)
        log.info("no JVM class archive: the JVM's dump did not finish")


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


def build_session(config: SparkConfig, archive: ClassArchive | None = None) -> SparkSession:
    """Start (or join) the SparkSession.

    Settings come, highest first, from ``spark-submit`` (its ``--conf``, ``--driver-memory``,
    ``--master``, ``spark-defaults.conf``) or, for a JVM pyspark starts, from
    ``spark-defaults.conf`` and ``PYSPARK_SUBMIT_ARGS`` (:func:`launcher_settings`); then the
    TOML's ``[spark]`` / ``[spark.conf]``; then our defaults (:func:`default_conf`). An active
    session (a notebook's, the tests') is joined as it is. Executors run the same Python as the
    driver unless ``PYSPARK_PYTHON`` says otherwise. ``archive``: the driver JVM maps (or dumps)
    it; only for a JVM this process starts.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    keep_freed_memory()
    if launched_by_spark_submit() and SparkSession.getActiveSession() is None:
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
    if archive is not None:
        own = conf.get("spark.driver.extraJavaOptions", "")
        conf["spark.driver.extraJavaOptions"] = f"{own} {archive.java_options()}".strip()
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


def _started(spark: SparkSession) -> SparkSession:
    spark.sparkContext.setLogLevel("WARN")
    log.info("Spark %s, master %s, default parallelism %d", spark.version,
             spark.sparkContext.master, spark.sparkContext.defaultParallelism)
    return spark


@contextmanager
def spark_session(config: SparkConfig) -> Iterator[SparkSession]:
    """The session for one command: reuses an active one (a notebook's, the tests'), otherwise
    starts one and stops it on the way out."""
    owned = SparkSession.getActiveSession() is None
    archive = None
    if owned and SparkContext._gateway is None and not launched_by_spark_submit():
        archive = class_archive(config.class_archive)  # only a JVM we start can map one
    try:
        spark = build_session(config, archive)
    except W2VError:
        if archive is None:
            raise
        # A JVM that cannot map an archive normally runs without it; one that crashed on it
        # (a file damaged after it was published) would fail every later run: drop it, go on.
        log.warning("the JVM did not start with class archive %s: removed; starting without it",
                    archive.path)
        if archive.staging is None:
            archive.path.unlink(missing_ok=True)
        archive = None
        spark = build_session(config)
    jvm = None
    if archive is not None:
        log.info("JVM class archive: %s %s", "creating" if archive.staging else "using",
                 archive.path)
        jvm = getattr(SparkContext._gateway, "proc", None)  # the JVM this call started
    failed = False
    try:
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
            if archive is not None and archive.staging is not None:
                publish_class_archive(archive, jvm)


#: HotSpot compiler directive: C2 compiles nothing more (what it compiled stays); a method that
#: becomes hot is compiled by C1 without profiling (the tiered policy's level 1).
_C1_ONLY = '[{match: "*.*", c2: {Exclude: true}}]'


def _diagnostic_command(spark: SparkSession, operation: str, *args: str) -> str:
    """Run a ``jcmd`` diagnostic command inside the driver JVM, through its DiagnosticCommand
    MBean (``Compiler.directives_add`` is the operation ``compilerDirectivesAdd``)."""
    gateway, jvm = spark.sparkContext._gateway, spark.sparkContext._jvm

    def array(kind, *items):
        made = gateway.new_array(kind, len(items))
        for index, item in enumerate(items):
            made[index] = item
        return made

    server = jvm.java.lang.management.ManagementFactory.getPlatformMBeanServer()
    # Called through the public interface's Method: py4j's lookup on the server's class (in a
    # package java.management does not export) finds no invoke().
    for_name = jvm.java.lang.Class.forName
    invoke = for_name("javax.management.MBeanServer").getMethod("invoke", array(
        jvm.java.lang.Class, for_name("javax.management.ObjectName"),
        for_name("java.lang.String"), for_name("[Ljava.lang.Object;"),
        for_name("[Ljava.lang.String;")))
    name = jvm.javax.management.ObjectName("com.sun.management:type=DiagnosticCommand")
    arguments = array(jvm.java.lang.Object, array(jvm.java.lang.String, *args))
    signature = array(jvm.java.lang.String, "[Ljava.lang.String;")
    return str(invoke.invoke(server, array(jvm.java.lang.Object, name, operation, arguments,
                                           signature)))


def _hold_back_c2(spark: SparkSession) -> bool:
    """Push the C1-only directive onto the JVM's directive stack; False (with a warning) when
    the JVM has no such command (not HotSpot) or does not take it."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="w2v-jit-") as directive:
        directive.write(_C1_ONLY)
        directive.flush()
        try:
            reply = _diagnostic_command(spark, "compilerDirectivesAdd", directive.name).strip()
        except Exception as err:  # noqa: BLE001 - py4j wraps whatever the JVM raised
            reply = str(err).splitlines()[0]
    if not reply.startswith("1 "):
        log.warning("spark.training_jit: the JVM did not take the compiler directive (%s); "
                    "training with its default compilers", reply)
        return False
    log.info("JVM: C1 only while training (spark.training_jit)")
    return True


@contextmanager
def training_jit(spark: SparkSession, setting: str) -> Iterator[None]:
    """While SGNS trains in local mode (the driver JVM is the executor), the JVM's optimizing
    compiler (C2) compiles nothing more; it comes back afterwards. ``setting``: ``[spark]
    training_jit``; ``"default"`` leaves the JVM alone, as does a cluster master (the executors
    are other JVMs).

    Why: training runs in the JVM only Spark's scheduling, serialization and shuffle code, warm
    but not hot, and C2 kept compiling it through every epoch (215 methods in epochs 3-5 on
    bench-en): ≈ 1.5 CPU s per 3 epochs, on the cores the Python trainers need. C1 compiles the
    same methods in a fraction of that and, for this code, about as well: training at
    ``local[2]`` took 28.3 / 27.5 s instead of 29.2 / 29.4 s (alternating runs, BENCHMARKS.md
    session 8). What C2 compiled while tokenizing and counting, which do run hot in the JVM,
    stays compiled. Applied at run time as ``jcmd PID Compiler.directives_add`` would.
    """
    held_back = (setting == "c1" and is_local(spark.sparkContext.master)
                 and _hold_back_c2(spark))
    try:
        yield
    finally:
        if held_back:
            _diagnostic_command(spark, "compilerDirectivesRemove")

