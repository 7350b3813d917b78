"""The job on a real Spark standalone cluster on this machine, per training partition count.

    python -m benchmarks.cluster --corpus PATH [--lines 30000] [--partitions 2,4,8,16]
        [--workers 2] [--worker-memory 1500m] [--driver-memory 1g] [--set section.key=value ...]
        [--out FILE.md] [--keep]

Starts a master and ``--workers`` one-core workers on 127.0.0.1 (:mod:`benchmarks.standalone`),
then submits ``jobs/train_embeddings.py`` with ``spark-submit`` in client mode once per partition
count (``spark.partitions``), one after the other, and tears the cluster down. The executors run
this virtualenv's Python (the workers share the machine). Each run keeps Spark's event log, from
which the table reads what the issue of scaling out asks for: jobs, stages, tasks, bytes written
to shuffles, bytes the driver received as task results (collects), the training stage's seconds
(the job's manifest), the wall time of the whole ``spark-submit``, and the driver's peak RSS (its
JVM and its Python together, sampled from ``/proc`` every 0.2 s; and each one's own peak).

Not a test: nothing is asserted. One timed job at a time on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.bench import TreeMonitor, read_events
from benchmarks.standalone import SPARK_HOME, Cluster, spark_env

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Run:
    partitions: int
    wall: float
    train: float | None
    jobs: int
    stages: int
    tasks: int
    shuffle_written: int
    to_driver: int
    driver_peak_mb: float
    jvm_peak_mb: float
    python_peak_mb: float
    returncode: int


def event_counts(events: Path) -> dict[str, int]:
    """Jobs, stages run (skipped ones are not), tasks, shuffle bytes written and result bytes
    sent to the driver, summed over the event logs under ``events``."""
    counts = dict(jobs=0, stages=0, tasks=0, shuffle_written=0, to_driver=0)
    for event in read_events(events):
        kind = event.get("Event")
        if kind == "SparkListenerJobStart":
            counts["jobs"] += 1
        elif kind == "SparkListenerStageCompleted":
            counts["stages"] += 1
        elif kind == "SparkListenerTaskEnd":
            counts["tasks"] += 1
            metrics = event.get("Task Metrics") or {}
            written = metrics.get("Shuffle Write Metrics") or {}
            counts["shuffle_written"] += written.get("Shuffle Bytes Written", 0)
            if event.get("Task Type") == "ResultTask":
                counts["to_driver"] += metrics.get("Result Size", 0)
    return counts


def submit(cluster: Cluster, corpus: Path, partitions: int, workdir: Path, *,
           driver_memory: str, overrides: list[str]) -> Run:
    out = workdir / f"p{partitions}"
    events = workdir / f"p{partitions}.events"
    events.mkdir()
    cmd = [str(SPARK_HOME / "bin" / "spark-submit"), "--master", cluster.url,
           "--driver-memory", driver_memory, "--executor-memory", "700m",
           "--conf", f"spark.local.dir={cluster.local_dir}",
           "--conf", f"spark.pyspark.python={sys.executable}",
           "--conf", f"spark.pyspark.driver.python={sys.executable}",
           "--conf", "spark.eventLog.enabled=true", "--conf", "spark.eventLog.compress=false",
           "--conf", f"spark.eventLog.dir=file://{events}",
           str(ROOT / "jobs" / "train_embeddings.py"), "--input", str(corpus),
           "--output", str(out), "--set", f"spark.partitions={partitions}",
           "--set", "output.word2vec_text=false"]
    for item in overrides:
        cmd += ["--set", item]
    log = workdir / f"p{partitions}.log"
    started = time.monotonic()
    with open(log, "w") as stream:
        proc = subprocess.Popen(cmd, stdout=stream, stderr=subprocess.STDOUT, env=spark_env(),
                                cwd=workdir)
        monitor = TreeMonitor(proc.pid)
        monitor.run(proc)
    wall = time.monotonic() - started
    manifest = out / "_manifest.json"
    train = (json.loads(manifest.read_text())["timings_seconds"].get("train")
             if manifest.is_file() else None)
    # spark-submit's JVM and its Python, sampled together (spark-submit's launcher, a JVM that
    # exits before the driver's starts, is not added to them).
    driver = monitor.peak_total_mb
    jvm, python = monitor.peak("jvm"), monitor.peak("python")
    if proc.returncode != 0:
        print(f"P={partitions}: spark-submit failed (exit {proc.returncode}); see {log}",
              file=sys.stderr)
    return Run(partitions=partitions, wall=wall, train=train, driver_peak_mb=driver,
               jvm_peak_mb=jvm, python_peak_mb=python,
               returncode=proc.returncode, **event_counts(events))


def markdown(runs: list[Run]) -> str:
    lines = ["| P | exit | wall s | train s | jobs | stages | tasks | shuffle written MB "
             "| to driver MB | driver peak RSS MB (JVM / Python) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for run in runs:
        train = f"{run.train:.1f}" if run.train is not None else "–"
        lines.append(f"| {run.partitions} | {run.returncode} | {run.wall:.1f} | {train} | "
                     f"{run.jobs} | {run.stages} | {run.tasks} | {run.shuffle_written / 1e6:.1f} | "
                     f"{run.to_driver / 1e6:.1f} | {run.driver_peak_mb:.0f} "
                     f"({run.jvm_peak_mb:.0f} / {run.python_peak_mb:.0f}) |")
    return "\n".join(lines)


def first_lines(corpus: str, lines: int, target: Path) -> Path:
    """The first ``lines`` lines of ``corpus`` (plain or gzip) as a plain file."""
    import gzip

    opener = gzip.open if corpus.endswith(".gz") else open
    with opener(corpus, "rt", encoding="utf-8") as source, open(target, "w", encoding="utf-8") as out:
        for index, line in enumerate(source):
            if index >= lines:
                break
            out.write(line)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cluster",
                                     description="The job on a standalone cluster on 127.0.0.1.")
    parser.add_argument("--corpus", required=True, help="text corpus, one document per line")
    parser.add_argument("--lines", type=int, default=0,
                        help="use only the first LINES lines (0: all)")
    parser.add_argument("--partitions", default="2,4,8", help="comma-separated (default 2,4,8)")
    parser.add_argument("--workers", type=int, default=2, help="one-core workers (default 2)")
    parser.add_argument("--worker-memory", default="1500m")
    parser.add_argument("--driver-memory", default="1g")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="config override for every run (default: one epoch)")
    parser.add_argument("--out", help="also write the Markdown table here")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory (event logs, driver logs) of every run")
    args = parser.parse_args(argv)
    overrides = ["sgns.epochs=1", *args.set]
    # Removed at the end unless a run failed: its logs are there.
    workdir = Path(tempfile.mkdtemp(prefix="w2v-cluster-bench-"))
    corpus = (first_lines(args.corpus, args.lines, workdir / "corpus.txt")
              if args.lines else Path(args.corpus).resolve())
    cluster = Cluster(workdir / "cluster")
    cluster.root.mkdir()
    runs = []
    try:
        cluster.start(args.workers, args.worker_memory)
        for partitions in (int(p) for p in args.partitions.split(",")):
            runs.append(submit(cluster, corpus, partitions, workdir,
                               driver_memory=args.driver_memory, overrides=overrides))
            print(markdown(runs[-1:]).splitlines()[-1], flush=True)
    finally:
        cluster.stop()
    failed = [run for run in runs if run.returncode != 0]
    if failed or args.keep:
        print(f"logs of the {'failed ' if failed else ''}runs kept in {workdir}", file=sys.stderr)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    table = markdown(runs)
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n", encoding="utf-8")
    return 0 if all(run.returncode == 0 for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
