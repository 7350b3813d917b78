"""A real Spark standalone cluster on 127.0.0.1: one master and two one-core workers, started
with ``spark-class`` from the pyspark package, torn down even when a test fails.

Jobs are submitted the way the README tells cluster users to: the executors run the Python of the
environment archive built by ``make dist`` (``--archives dist/w2v_env.tar.gz#environment``), the
driver (client mode) the project's virtualenv.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.standalone import SPARK_HOME, Cluster, spark_env

ROOT = Path(__file__).resolve().parents[2]
ENV_ARCHIVE = ROOT / "dist" / "w2v_env.tar.gz"


@pytest.fixture(scope="session")
def env_archive() -> Path:
    """``make dist`` (a no-op when the archive is newer than the sources)."""
    subprocess.run(["make", "--no-print-directory", "-s", "dist"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    assert ENV_ARCHIVE.is_file()
    return ENV_ARCHIVE


@pytest.fixture(scope="session")
def cluster(tmp_path_factory, env_archive):
    running = Cluster(tmp_path_factory.mktemp("standalone"))
    try:
        running.start()
        yield running
    finally:
        running.stop()


def submit(cluster: Cluster, *args, watch=None, on_line=None, timeout=420, options=()):
    """spark-submit ``jobs/train_embeddings.py`` to the cluster (client mode); ``on_line(line,
    proc)`` sees every output line as it arrives (the driver's log comes on stdout);
    ``options``: more spark-submit options (before the script)."""
    cmd = [str(SPARK_HOME / "bin" / "spark-submit"), "--master", cluster.url,
           "--executor-memory", "700m", "--conf", "spark.task.maxFailures=4",
           "--conf", f"spark.local.dir={cluster.local_dir}",
           "--archives", f"{ENV_ARCHIVE}#environment",
           "--conf", "spark.pyspark.python=./environment/bin/python",
           "--conf", f"spark.pyspark.driver.python={sys.executable}", *options,
           str(ROOT / "jobs" / "train_embeddings.py"), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=spark_env(), cwd=ROOT, start_new_session=True)
    lines = []
    deadline = time.monotonic() + timeout
    try:
        for line in proc.stdout:
            lines.append(line)
            if on_line is not None:
                on_line(line, proc)
            if time.monotonic() > deadline:
                raise TimeoutError("spark-submit took too long")
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, "".join(lines)
