"""The driver JVM's class-data-sharing archive: made by the first run, mapped by the next, never
published half-written, and without effect on the vectors."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from w2v_spark.config import from_dict
from w2v_spark.errors import ConfigError
from w2v_spark.session import ClassArchive, class_archive, publish_class_archive

ROOT = Path(__file__).resolve().parents[2]
RUN = ["--set", "sgns.epochs=1", "--set", "vocab.min_count=2", "--set", "spark.partitions=1"]


def _train(corpus: str, out: Path, cache: Path, *settings: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, W2V_SPARK_CACHE_DIR=str(cache))
    done = subprocess.run(
        [sys.executable, "-m", "w2v_spark", "train", "--input", corpus, "--output", str(out),
         *RUN, *settings],
        capture_output=True, text=True, timeout=600, env=env, cwd=ROOT, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_first_run_creates_the_archive_and_the_next_maps_it(topic_corpus, tmp_path):
    cache = tmp_path / "cache"
    first = _train(topic_corpus, tmp_path / "first", cache)
    assert "JVM class archive: creating" in first.stderr
    archives = list(cache.iterdir())
    # One finished archive (the dump's magic first), nothing staged left behind.
    assert len(archives) == 1 and archives[0].suffix == ".jsa", archives
    assert archives[0].read_bytes()[:4] == bytes.fromhex("a8ab0bf0")

    classes = tmp_path / "classes.log"
    second = _train(topic_corpus, tmp_path / "second", cache, "--set",
                    f"spark.conf.spark.driver.extraJavaOptions=-Xlog:class+load=info:file={classes}")
    assert f"JVM class archive: using {archives[0]}" in second.stderr
    # HotSpot names where each class came from; the dynamic archive is "(top)". Measured: 16,882
    # of the 24,978 classes this run loads (−40 % margin); a JVM that could not map it: none.
    from_archive = sum("shared objects file (top)" in line
                       for line in classes.read_text().splitlines())
    assert from_archive > 10_000
    # The archive changes how classes load, not what runs.
    assert (tmp_path / "first" / "vectors.txt").read_bytes() == \
        (tmp_path / "second" / "vectors.txt").read_bytes()

    # Damaged after it was published (here: cut short), the archive crashes the JVM that maps
    # it; the run drops it and starts without it.
    whole = archives[0].read_bytes()
    archives[0].chmod(0o644)
    archives[0].write_bytes(whole[: len(whole) // 2])
    third = _train(topic_corpus, tmp_path / "third", cache)
    assert "did not start with class archive" in third.stderr
    assert not archives[0].exists()
    assert list(cache.glob("hs_err_pid*.log"))  # the crash report, kept beside the archive
    assert (tmp_path / "third" / "vectors.txt").read_bytes() == \
        (tmp_path / "first" / "vectors.txt").read_bytes()


def test_an_unfinished_dump_is_never_published(spark, tmp_path):
    # No JVM of its own to end: publishing finds no finished dump, deletes it, publishes nothing
    # (and leaves alone the JVM of the suite's session, if one runs in this process).
    staging = tmp_path / "spark.jsa.1.partial"
    staging.write_bytes(b"\0" * 4096)  # HotSpot writes the header (and its magic) last
    archive = ClassArchive(tmp_path / "spark.jsa", staging=staging)
    publish_class_archive(archive, jvm=None)
    assert not staging.exists() and not archive.path.exists()
    assert spark.range(3).count() == 3  # the suite's JVM still serves


def test_stale_staging_files_of_ended_processes_are_removed(tmp_path):
    archive = class_archive(str(tmp_path))
    assert archive is not None and archive.staging is not None
    assert archive.staging.name == f"{archive.path.name}.{os.getpid()}.partial"
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    stale = archive.path.with_name(f"{archive.path.name}.{ended.stdout.strip()}.partial")
    stale.write_bytes(b"\0")
    mine = archive.staging
    mine.write_bytes(b"\0")  # this process is alive: its dump may be in progress
    class_archive(str(tmp_path))
    assert not stale.exists() and mine.exists()


def test_off_and_bad_settings():
    assert class_archive("off") is None
    with pytest.raises(ConfigError, match="spark.class_archive: must be 'auto', 'off' or a directory"):
        from_dict({"spark": {"class_archive": " "}})
