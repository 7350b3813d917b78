"""A Spark standalone cluster on 127.0.0.1 (a master and one-core workers), started with
``spark-class`` from the pyspark package and torn down by :meth:`Cluster.stop`: used by the
cluster tests (``tests/cluster``) and the cluster benchmark (:mod:`benchmarks.cluster`)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pyspark

SPARK_HOME = Path(pyspark.__file__).parent
SPARK_CLASS = SPARK_HOME / "bin" / "spark-class"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spark_env() -> dict:
    bin_dir = os.path.dirname(sys.executable)
    return dict(os.environ, SPARK_HOME=str(SPARK_HOME), SPARK_LOCAL_IP="127.0.0.1",
                PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable,
                PATH=f"{bin_dir}:{os.environ['PATH']}")


class Cluster:
    def __init__(self, root: Path):
        self.root = root
        self.port, self.ui = free_port(), free_port()
        self.url = f"spark://127.0.0.1:{self.port}"
        self.master = None
        self.workers: list[subprocess.Popen] = []

    @property
    def local_dir(self) -> Path:
        """Scratch space of the drivers and executors (``spark.local.dir``): in the test run's
        temporary directory, which pytest prunes, and not /tmp, where a killed driver or executor
        leaves its copy of the 700 MB environment archive behind for good."""
        return self.root / "local"

    def _spawn(self, name: str, *args) -> subprocess.Popen:
        log = open(self.root / f"{name}.log", "w")
        self.local_dir.mkdir(exist_ok=True)
        return subprocess.Popen([str(SPARK_CLASS), *args], stdout=log, stderr=subprocess.STDOUT,
                                env={**spark_env(), "SPARK_LOCAL_DIRS": str(self.local_dir)},
                                start_new_session=True)

    def start(self, workers: int = 2, memory: str = "1500m") -> None:
        """The master and ``workers`` one-core workers of ``memory`` each; returns when all are
        registered."""
        self.master = self._spawn("master", "org.apache.spark.deploy.master.Master", "--host",
                                  "127.0.0.1", "--port", str(self.port), "--webui-port", str(self.ui))
        for i in range(workers):
            self.add_worker(i, memory)
        self.wait_for_workers(workers)

    def add_worker(self, i: int, memory: str = "1500m") -> None:
        work = self.root / f"worker{i}"
        work.mkdir(exist_ok=True)
        self.workers.append(self._spawn(
            f"worker{i}", "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
            "--cores", "1", "--memory", memory, "--webui-port", str(free_port()),
            "--work-dir", str(work), self.url))

    def alive_workers(self) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ui}/json/", timeout=2) as page:
                state = json.load(page)
        except OSError:
            return -1
        return sum(1 for w in state.get("workers", []) if w.get("state") == "ALIVE")

    def wait_for_workers(self, count: int, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while self.alive_workers() < count:
            if time.monotonic() > deadline:
                logs = "\n".join((self.root / f).read_text()[-1500:] for f in os.listdir(self.root)
                                 if f.endswith(".log"))
                raise RuntimeError(f"standalone cluster did not come up:\n{logs}")
            time.sleep(0.5)

    def kill_worker(self, index: int) -> None:
        """SIGKILL a worker and everything it started (its executor)."""
        os.killpg(self.workers[index].pid, signal.SIGKILL)
        self.workers[index].wait()

    def unpacked_environments(self) -> list[Path]:
        """The archive as the executors unpacked it: ``<work dir>/app-…/<executor>/environment``."""
        return sorted(self.root.glob("worker*/app-*/*/environment"))

    def stop(self) -> None:
        for proc in [*self.workers, self.master]:
            if proc is not None and proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
        for unpacked in self.unpacked_environments():  # ≈ 700 MB each; the logs stay
            shutil.rmtree(unpacked, ignore_errors=True)
