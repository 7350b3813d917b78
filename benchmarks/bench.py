"""Benchmark harness: our trainer and the reference systems on the same tokens, in one run.

    python -m benchmarks.bench --corpus PATH [--systems ours,kernel,gensim,mllib,ppmi,ppmi-ref]
        [--partitions 1,2,4] [--gensim-workers 1,2] [--mllib-partitions 2] [--repeats 1]
        [--set section.key=value ...] [--out FILE.md]

Systems: ``ours`` is the whole Spark job per partition count; ``kernel`` our kernel alone in one
process (no Spark; ``sgns.kernel`` on ``sgns.threads`` threads); ``gensim`` gensim 4.4 skip-gram;
``mllib`` pyspark.ml's Word2Vec; ``ppmi`` our count-based job (``python -m w2v_spark ppmi``) per
partition count; ``ppmi-ref`` a single-process NumPy/SciPy PPMI-SVD with ARPACK (the reference of
ANCHORS.md). Ratios are to gensim, or to the PPMI-SVD reference when gensim is not run.

Every system sees the same documents (the reference tokenization, documents split at
``tokenize.max_sentence_length`` tokens) and the same hyperparameters. Runs alternate between
systems (ours P=1, gensim, ours P=2, gensim, ...) so that load on the shared machine hits all
alike. Each run is a separate process; CPU seconds are the process tree's user+system time.
Quality is measured on the same vectors with gensim's evaluation (analogies restricted to the
30,000 most frequent words, WordSim-353 and SimLex-999 Spearman ρ). Ordering a reference
system's vectors by corpus count for that is done after its timed process ends.

``ours`` runs as users run it, ``python -m w2v_spark``. ``mllib`` builds a plain SparkSession,
as a pyspark.ml user would; ``--set spark.conf.KEY=VALUE`` applies to its session too (e.g. the
same ``spark.driver.extraJavaOptions``).

Needs the ``bench`` extra (gensim). Linux only (CPU and memory are read from ``/proc``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from w2v_spark.config import REFERENCE_TOKEN_PATTERN, JobConfig, load_config

#: The tokenization every system of a benchmark run sees (overridable with --set).
REFERENCE_TOKENIZATION = {"tokenize.token_pattern": f'"{REFERENCE_TOKEN_PATTERN}"',
                          "tokenize.normalization": "none"}


@dataclass
class Result:
    system: str
    wall: float
    cpu: float
    driver_mb: float
    jvm_mb: float
    worker_mb: float
    train_seconds: float
    raw_words: int
    analogy: float
    ws353: float
    simlex: float
    #: stage → peak resident MB of ``jvm``, ``python`` (all workers) and ``driver``
    stages: dict[str, dict[str, float]] = field(default_factory=dict)
    #: Spark job description → (memory, disk) bytes spilled (``--stages``: ours only)
    spill: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def words_per_cpu_second(self) -> float:
        return self.raw_words / self.cpu


#: A stage's first log line (``epochs.Split``): "... INFO w2v_spark.pipeline: vocabulary ..."
_STAGE_LINE = re.compile(r" INFO w2v_spark\.[\w.]+: (\S.*?) \.\.\.$")


def read_documents(path: str, config: JobConfig) -> list[list[str]]:
    """The corpus tokenized as the Spark stage does it (same regex, same splitting)."""
    pattern = re.compile(config.tokenize.token_pattern)
    limit = config.tokenize.max_sentence_length
    opener = gzip.open if path.endswith(".gz") else open
    documents = []
    with opener(path, "rt", encoding="utf-8", errors="replace") as lines:
        for line in lines:
            tokens = pattern.findall(line.lower() if config.tokenize.lowercase else line)
            tokens = [t for t in tokens if len(t) >= config.tokenize.min_token_length]
            documents.extend(tokens[i : i + limit] for i in range(0, len(tokens), limit))
    return documents


def evaluate_vectors(words: list[str], vectors: np.ndarray) -> tuple[float, float, float]:
    """(analogy accuracy, WS353 ρ, SimLex ρ) with gensim's evaluation; rows by descending count."""
    import gensim.test.utils as gtu
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vectors.shape[1])
    kv.add_vectors(words, vectors)
    analogy = kv.evaluate_word_analogies(gtu.datapath("questions-words.txt"),
                                         restrict_vocab=30000, case_insensitive=True)[0]
    ws = kv.evaluate_word_pairs(gtu.datapath("wordsim353.tsv"), case_insensitive=True)[1][0]
    sl = kv.evaluate_word_pairs(gtu.datapath("simlex999.txt"), case_insensitive=True)[1][0]
    return float(analogy), float(ws), float(sl)


class TreeMonitor:
    """CPU seconds and peak memory of a process and all its descendants (Linux ``/proc``).

    Spark's JVM and its Python workers are grandchildren that ``getrusage`` never sees, so the tree
    is sampled every ``interval`` seconds; each process's last sample counts.
    """

    def __init__(self, root: int, interval: float = 0.2, log_path: Path | None = None):
        self.root, self.interval = root, interval
        self.cpu: dict[int, float] = {}
        self.peak_mb: dict[int, float] = {}
        self.kind: dict[int, str] = {}
        self._tick = os.sysconf("SC_CLK_TCK")
        #: With the job's log: the stage it is in, and per stage the peak resident MB of each
        #: kind of process (``python``: the workers' sum).
        self.log_path, self._log_offset = log_path, 0
        self.stage = "start"
        self.stage_peak_mb: dict[str, dict[str, float]] = {}
        #: The largest resident total of the whole tree in one sample (processes at once, unlike
        #: a sum of per-process peaks, which counts processes that never ran together).
        self.peak_total_mb = 0.0
        self.last_error = ""

    def _children(self) -> dict[int, list[int]]:
        tree: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                    tree.setdefault(int(fields[1]), []).append(int(entry))
                except OSError:
                    pass
        return tree

    def sample(self) -> None:
        tree, todo = self._children(), [self.root]
        resident: dict[str, float] = defaultdict(float)
        while todo:
            pid = todo.pop()
            todo += tree.get(pid, [])
            try:
                with open(f"/proc/{pid}/stat") as f:
                    head, rest = f.read().rsplit(")", 1)
                fields = rest.split()
                self.cpu[pid] = (int(fields[11]) + int(fields[12])) / self._tick
                with open(f"/proc/{pid}/status") as f:
                    status = {line.split(":", 1)[0]: line for line in f}
                name = head.split("(", 1)[1]
                kind = self.kind[pid] = ("jvm" if name == "java" else
                                         "driver" if pid == self.root else "python")
                if "VmHWM" in status:
                    hwm = int(status["VmHWM"].split()[1]) / 1024
                    self.peak_mb[pid] = max(self.peak_mb.get(pid, 0), hwm)
                if "VmRSS" in status:
                    resident[kind] += int(status["VmRSS"].split()[1]) / 1024
            except OSError:
                pass
        self.peak_total_mb = max(self.peak_total_mb, sum(resident.values()))
        if self.log_path is not None:
            self._follow_log()
        peaks = self.stage_peak_mb.setdefault(self.stage, {})
        for kind, mb in resident.items():  # python: all workers together
            peaks[kind] = max(peaks.get(kind, 0.0), mb)

    def _follow_log(self) -> None:
        """The stage the job is in: the last "<stage> ..." line of its log (``Split``)."""
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                f.seek(self._log_offset)
                text = f.read()
        except OSError:
            return
        complete = text.rfind("\n") + 1
        self._log_offset += len(text[:complete].encode("utf-8", errors="replace"))
        for line in text[:complete].splitlines():
            if match := _STAGE_LINE.search(line):
                self.stage = match.group(1)
            if "error:" in line or "Error" in line:
                self.last_error = line.strip()

    def run(self, proc: subprocess.Popen, progress=None, every: float = 30.0) -> None:
        """Sample until ``proc`` ends; call ``progress()`` every ``every`` seconds meanwhile."""
        next_report = time.monotonic() + every
        while proc.poll() is None:
            self.sample()
            if progress is not None and time.monotonic() >= next_report:
                progress()
                next_report += every
            time.sleep(self.interval)

    def total_cpu(self) -> float:
        return sum(self.cpu.values())

    def peak(self, kind: str) -> float:
        return max((m for pid, m in self.peak_mb.items() if self.kind.get(pid) == kind), default=0.0)


def run_ours(corpus: str, partitions: int, overrides: list[str], workdir: Path,
             command: str = "train", event_log: bool = False) -> Result:
    """Our whole job (``train`` or ``ppmi``) as a user runs it, in its own process. With
    ``event_log``, Spark's event log is kept beside it for the spill per job (:func:`_spill_by_job`)."""
    out = workdir / f"{command}-p{partitions}-{time.monotonic_ns()}"
    cmd = [sys.executable, "-m", "w2v_spark", command, "--input", corpus, "--output", str(out),
           "--set", f"spark.partitions={partitions}", "--set", "output.word2vec_text=false"]
    if event_log:
        events = out.with_name(out.name + ".events")
        events.mkdir()
        cmd += ["--set", "spark.conf.spark.eventLog.enabled=true",
                "--set", "spark.conf.spark.eventLog.compress=false",
                "--set", f"spark.conf.spark.eventLog.dir=file://{events}"]
    for item in overrides:
        cmd += ["--set", item]
    name = "w2v_spark" if command == "train" else "w2v_spark PPMI-SVD"
    return _timed(f"{name}, {partitions} partition(s)", cmd, out)


def _run_child(name: str, child: str, documents_path: Path, overrides: list[str],
               workdir: Path, workers: int = 1, after=None) -> Result:
    """Run this script with ``--<child>-child`` on the shared documents, timed."""
    out = workdir / f"{child}-{workers}-{time.monotonic_ns()}"
    cmd = [sys.executable, __file__, f"--{child}-child", str(documents_path),
           "--workers", str(workers), "--out", str(out)]
    for item in overrides:
        cmd += ["--set", item]
    return _timed(name, cmd, out, after)


def run_gensim(documents_path: Path, workers: int, overrides: list[str], workdir: Path) -> Result:
    model = "CBOW" if load_config(None, overrides).sgns.model == "cbow" else "SG"
    return _run_child(f"gensim 4.4 {model}, {workers} worker(s)", "gensim", documents_path, overrides,
                      workdir, workers)


class JobFailed(Exception):
    """A benchmarked process ended with an error or was killed; the message says how."""


def _timed(name: str, cmd: list[str], out: Path, after=None) -> Result:
    """Run ``cmd`` (which writes vectors to ``out``), timed with its process tree; then
    ``after(out)`` (untimed), then evaluate.

    The process writes its output to ``out.log`` (a pipe that nobody reads while it runs fills
    up and blocks a long job for ever); every 30 s a progress line says its stage and memory.
    Raises :class:`JobFailed` when it fails or is killed."""
    log_path = out.with_name(out.name + ".log")
    t0 = time.perf_counter()
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, text=True)
    monitor = TreeMonitor(proc.pid, log_path=log_path)

    def progress() -> None:
        now = monitor.stage_peak_mb.get(monitor.stage, {})
        print(f"{name}: {time.perf_counter() - t0:.0f}s, {monitor.stage}; peak RSS MB in it: "
              f"JVM {now.get('jvm', 0):.0f}, Python workers {now.get('python', 0):.0f}",
              file=sys.stderr, flush=True)

    monitor.run(proc, progress)
    wall = time.perf_counter() - t0
    monitor.sample()  # the log's last lines
    if proc.returncode != 0:
        how = (f"killed by signal {-proc.returncode}" if proc.returncode < 0
               else f"exit code {proc.returncode}")
        raise JobFailed(f"{name} failed after {wall:.0f}s ({how}) in {monitor.stage}: "
                        f"{monitor.last_error or 'no error line'}")
    if after is not None:
        after(out)
    words, vectors, raw, train_seconds = _load_vectors(out)
    analogy, ws, sl = evaluate_vectors(words, vectors)
    result = Result(name, wall, monitor.total_cpu(), monitor.peak("driver"), monitor.peak("jvm"),
                    monitor.peak("python"), train_seconds, raw, analogy, ws, sl,
                    stages=monitor.stage_peak_mb, spill=_spill_by_job(out))
    print(f"{name}: wall {wall:.1f}s cpu {result.cpu:.1f}s analogy {analogy:.4f} ws353 {ws:.3f} "
          f"simlex {sl:.3f}", file=sys.stderr, flush=True)
    return result


def _spill_by_job(out: Path) -> dict[str, tuple[int, int]]:
    """Bytes spilled (memory, disk) per Spark job description, from the event log that
    :func:`run_ours` kept beside ``out`` (empty without one)."""
    events = out.with_name(out.name + ".events")
    if not events.is_dir():
        return {}
    job_of_stage, description, spill = {}, {}, defaultdict(lambda: [0, 0])
    for event in read_events(events):
        kind = event.get("Event")
        if kind == "SparkListenerJobStart":
            props = event.get("Properties") or {}
            description[event["Job ID"]] = props.get("spark.job.description") or "(none)"
            for stage in event.get("Stage IDs", []):
                job_of_stage.setdefault(stage, event["Job ID"])
        elif kind == "SparkListenerTaskEnd":
            metrics = event.get("Task Metrics") or {}
            job = description.get(job_of_stage.get(event["Stage ID"]), "(none)")
            spill[job][0] += metrics.get("Memory Bytes Spilled", 0)
            spill[job][1] += metrics.get("Disk Bytes Spilled", 0)
    return {job: (memory, disk) for job, (memory, disk) in spill.items()}


def read_events(events: Path) -> Iterator[dict]:
    """Spark's event-log events under ``events``, in order: one file per application, or
    (Spark 4's rolling logs) a directory of ``events_N_*`` files."""
    files = [p for p in events.rglob("*") if p.is_file() and not p.name.startswith(".")]
    files.sort(key=lambda p: (p.parent, int(m.group(1)) if (m := re.match(r"events_(\d+)_", p.name))
                              else 0, p.name))
    for path in files:
        with open(path, encoding="utf-8") as file:
            lines = file.read().splitlines()
        for number, line in enumerate(lines):
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                # A driver that ends while its event log is being flushed leaves the last line
                # cut short (seen once in 8 cluster runs); any other bad line is an error.
                if number != len(lines) - 1:
                    raise


def _load_vectors(out: Path) -> tuple[list[str], np.ndarray, int, float]:
    from w2v_spark.vectors.embeddings import Embeddings

    manifest = json.loads((out / "_manifest.json").read_text())
    timings = manifest.get("timings_seconds", {})
    if manifest.get("method") == "ppmi_svd":  # one pass over the corpus; "train" = the branch
        raw = manifest["corpus"]["tokens"]
        train_seconds = sum(timings.get(k, 0.0) for k in ("cooccurrence", "ppmi", "svd"))
    else:
        raw = manifest["corpus"]["tokens"] * manifest["config"]["sgns"]["epochs"]
        train_seconds = timings.get("train", float("nan"))
    emb = Embeddings.load(out)
    return emb.words, emb.vectors, raw, train_seconds


def write_result(out: str, words: list[str], counts: np.ndarray, vectors: np.ndarray,
                 tokens: int, epochs: int, train_seconds: float = float("nan")) -> None:
    """A reference system's vectors in our layout: ``embeddings/`` Parquet and a small manifest."""
    import pyarrow.parquet as pq

    from w2v_spark.vectors.word2vec_format import embeddings_table

    os.makedirs(f"{out}/embeddings")
    pq.write_table(embeddings_table(words, np.asarray(counts, dtype=np.int64), vectors),
                   f"{out}/embeddings/part-0.parquet")
    with open(f"{out}/_manifest.json", "w") as f:
        json.dump({"corpus": {"tokens": tokens}, "config": {"sgns": {"epochs": epochs}},
                   "timings_seconds": {"train": train_seconds}}, f)


def gensim_child(documents_path: str, workers: int, overrides: list[str], out: str) -> None:
    """Train gensim in this process on pre-tokenized documents (one per line, space separated);
    write the same layout our job writes (embeddings Parquet + manifest)."""
    from gensim.models import Word2Vec

    config = load_config(None, overrides)
    with open(documents_path, encoding="utf-8") as f:
        documents = [line.split() for line in f]
    s, v = config.sgns, config.vocab
    model = Word2Vec(
        sentences=documents, vector_size=s.vector_size, window=s.window, negative=s.negative,
        ns_exponent=s.ns_exponent, alpha=s.alpha, min_alpha=s.min_alpha, epochs=s.epochs,
        seed=s.seed, min_count=v.min_count, sample=v.sample, workers=workers,
        sg=0 if s.model == "cbow" else 1, hs=0, cbow_mean=1,
    )
    wv = model.wv
    counts = [wv.get_vecattr(w, "count") for w in wv.index_to_key]
    write_result(out, list(wv.index_to_key), counts, wv.vectors,
                 sum(len(d) for d in documents), s.epochs)


def kernel_child(documents_path: str, overrides: list[str], out: str) -> None:
    """Our kernel alone, one process, no Spark: vocabulary, subsampling table, noise table and
    ``config.sgns.epochs`` passes of :func:`~w2v_spark.sgns.kernel.train_partition` over all documents,
    with ``sgns.kernel`` (numba when installed) on ``sgns.threads`` threads (1 for ``"auto"``)."""
    from w2v_spark.sgns.kernel import TrainSettings, train_partition
    from w2v_spark.sgns.sampling import build_noise_table
    from w2v_spark.sgns.train import initial_model

    config = load_config(None, overrides)
    s, v = config.sgns, config.vocab
    with open(documents_path, encoding="utf-8") as f:
        documents = [line.split() for line in f]
    counter = Counter(word for doc in documents for word in doc)
    words = sorted((w for w, c in counter.items() if c >= v.min_count), key=lambda w: (-counter[w], w))
    index = {w: i for i, w in enumerate(words)}
    counts = np.array([counter[w] for w in words], dtype=np.int64)
    encoded = [np.array([index[w] for w in doc if w in index], dtype=np.int32) for doc in documents]
    ids = np.concatenate(encoded)
    offsets = np.concatenate(([0], np.cumsum([e.shape[0] for e in encoded])))
    threshold = v.sample * counts.sum()
    keep = np.minimum(1.0, (np.sqrt(counts / threshold) + 1) * threshold / counts).astype(np.float32)
    noise = build_noise_table(counts, s.ns_exponent)
    syn0, syn1 = initial_model(len(words), s.vector_size, s.seed)
    settings = TrainSettings(s.window, s.negative, s.alpha, s.min_alpha, s.batch_centers,
                             kernel=s.resolved_kernel(), threads=s.resolved_threads(1))
    started = time.perf_counter()
    for epoch in range(s.epochs):
        train_partition(syn0, syn1, ids, offsets, keep_probability=keep, noise=noise,
                        settings=settings, progress=(epoch / s.epochs, (epoch + 1) / s.epochs),
                        rng=np.random.default_rng(np.random.SeedSequence([s.seed, epoch, 0])))
    write_result(out, words, counts, syn0, sum(len(d) for d in documents), s.epochs,
                 train_seconds=time.perf_counter() - started)


def ppmi_reference_child(documents_path: str, overrides: list[str], out: str) -> None:
    """Single-process PPMI-SVD (NumPy + SciPy, ARPACK), the reference of ANCHORS.md: same
    vocabulary, window, weighting, smoothing and eigenvalue weight as ``[ppmi]``."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import svds

    from w2v_spark.count.cooccurrence import distance_weights
    from w2v_spark.count.svd import word_vectors

    config = load_config(None, overrides)
    p, v = config.ppmi, config.vocab
    with open(documents_path, encoding="utf-8") as f:
        documents = [line.split() for line in f]
    started = time.perf_counter()
    counter = Counter(word for doc in documents for word in doc)
    words = sorted((w for w, c in counter.items() if c >= v.min_count), key=lambda w: (-counter[w], w))
    index = {w: i for i, w in enumerate(words)}
    encoded = [[index[w] for w in doc if w in index] for doc in documents]
    ids = np.fromiter((i for doc in encoded for i in doc), dtype=np.int64)
    doc_of = np.repeat(np.arange(len(encoded)), [len(d) for d in encoded])
    size = len(words)
    counts = sp.csr_matrix((size, size))
    for d, weight in enumerate(distance_weights(p.window, p.weighting, p.dynamic_window), start=1):
        same_doc = doc_of[:-d] == doc_of[d:]
        left, right = ids[:-d][same_doc], ids[d:][same_doc]
        counts = counts + sp.csr_matrix((np.full(left.shape, weight), (left, right)), shape=(size, size))
    counts = (counts + counts.T).tocsr()
    if p.min_pair_count > 0:
        counts.data[counts.data < p.min_pair_count] = 0
        counts.eliminate_zeros()
    word_total = np.asarray(counts.sum(axis=1)).ravel()
    smoothed = np.asarray(counts.sum(axis=0)).ravel() ** p.cds
    coo = counts.tocoo()
    pmi = (np.log(coo.data) - np.log(word_total[coo.row]) - np.log(smoothed[coo.col])
           + np.log(smoothed.sum()) - np.log(p.shift))
    keep = pmi > 0
    ppmi = sp.csr_matrix((pmi[keep], (coo.row[keep], coo.col[keep])), shape=(size, size))
    u, singular, _ = svds(ppmi, k=p.vector_size, random_state=p.seed)
    order = np.argsort(-singular)
    vectors = word_vectors(u[:, order], singular[order], p.eigenvalue_weight)
    elapsed = time.perf_counter() - started
    print(f"ppmi reference: {counts.nnz} pairs, {ppmi.nnz} PPMI entries, {elapsed:.1f}s", file=sys.stderr)
    write_result(out, words, [counter[w] for w in words], vectors, int(sum(len(d) for d in documents)),
                 1, elapsed)


def mllib_child(documents_path: str, partitions: int, overrides: list[str], out: str) -> None:
    """pyspark.ml's Word2Vec (skip-gram, hierarchical softmax) on the same documents, local[2]."""
    from pyspark.ml.feature import Word2Vec
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    config = load_config(None, overrides)
    s, v = config.sgns, config.vocab
    builder = (SparkSession.builder.master("local[2]").config("spark.driver.memory", "4g")
               .config("spark.ui.showConsoleProgress", "false"))
    for key, value in config.spark.conf.items():  # --set spark.conf.*: the same JVM settings as ours
        builder = builder.config(key, str(value))
    spark = builder.getOrCreate()
    docs = spark.read.text(documents_path).select(F.split("value", " ").alias("tokens"))
    model = Word2Vec(
        vectorSize=s.vector_size, minCount=v.min_count, numPartitions=partitions,
        stepSize=s.alpha, maxIter=s.epochs, seed=s.seed, windowSize=s.window,
        maxSentenceLength=config.tokenize.max_sentence_length, inputCol="tokens",
    ).fit(docs)
    rows = sorted((r["word"], r["vector"].toArray()) for r in model.getVectors().collect())
    spark.stop()
    # Word counts (to order the vectors for evaluation) are the harness's work, not MLlib's:
    # the parent adds them after the timed process ends (_count_words).
    words = [r[0] for r in rows]
    write_result(out, words, np.zeros(len(words), dtype=np.int64),
                 np.stack([r[1] for r in rows]).astype(np.float32), 0, s.epochs)


def _count_words(documents_path: Path, out: Path) -> None:
    """Give a reference system's vectors (written without counts) the corpus counts and order
    them by descending count (ties by word), as ours are, before they are evaluated."""
    from w2v_spark.vectors.embeddings import Embeddings

    counts = Counter()
    with open(documents_path, encoding="utf-8") as f:
        for line in f:
            counts.update(line.split())
    written = Embeddings.load(out)
    epochs = json.loads((out / "_manifest.json").read_text())["config"]["sgns"]["epochs"]
    order = sorted(range(len(written.words)),
                   key=lambda i: (-counts[written.words[i]], written.words[i]))
    words = [written.words[i] for i in order]
    shutil.rmtree(out)
    write_result(str(out), words, np.array([counts[w] for w in words], dtype=np.int64),
                 written.vectors[order], sum(counts.values()), epochs)


def run_mllib(documents_path: Path, partitions: int, overrides: list[str], workdir: Path) -> Result:
    return _run_child(f"Spark MLlib Word2Vec (SG + HS), {partitions} partition(s)", "mllib",
                      documents_path, overrides, workdir, partitions,
                      after=lambda out: _count_words(documents_path, out))


def run_ppmi_reference(documents_path: Path, overrides: list[str], workdir: Path) -> Result:
    return _run_child("PPMI-SVD reference (NumPy/SciPy ARPACK, 1 process)", "ppmi-ref",
                      documents_path, overrides, workdir)


def run_kernel(documents_path: Path, overrides: list[str], workdir: Path) -> Result:
    sgns = load_config(None, overrides).sgns
    threads = sgns.resolved_threads(1)
    return _run_child(f"w2v_spark {sgns.resolved_kernel()} kernel alone, {threads} thread"
                      f"{'' if threads == 1 else 's'} (1 process, no Spark)", "kernel",
                      documents_path, overrides, workdir)


def markdown(results: list[Result], reference: str) -> str:
    base = [r for r in results if r.system.startswith(reference)]
    base_speed = np.mean([r.words_per_cpu_second for r in base]) if base else float("nan")
    label = reference.split()[0]
    lines = [
        f"| system | wall s | train s | CPU s | words / CPU-s | vs {label} | analogy | WS353 ρ "
        "| SimLex ρ | peak RSS MB: driver / JVM / worker |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.system} | {r.wall:.1f} | {r.train_seconds:.1f} | {r.cpu:.1f} | "
            f"{r.words_per_cpu_second / 1e3:.0f}k | "
            f"{r.words_per_cpu_second / base_speed:.2f} | {100 * r.analogy:.1f} % | {r.ws353:.3f} | "
            f"{r.simlex:.3f} | {r.driver_mb:.0f} / {r.jvm_mb:.0f} / {r.worker_mb:.0f} |"
        )
    return "\n".join(lines)


def stage_markdown(results: list[Result]) -> str:
    """Per run: each stage's peak resident memory, and the bytes Spark spilled per job."""
    lines = ["| system | stage | peak RSS MB: JVM / Python workers / driver |", "|---|---|---|"]
    for r in results:
        for stage, peaks in r.stages.items():
            lines.append(f"| {r.system} | {stage} | {peaks.get('jvm', 0):.0f} / "
                         f"{peaks.get('python', 0):.0f} / {peaks.get('driver', 0):.0f} |")
    spills = [(r.system, job, memory, disk) for r in results
              for job, (memory, disk) in r.spill.items()]
    if spills:
        lines += ["", "| system | Spark job | spilled MB: memory / disk |", "|---|---|---|"]
        lines += [f"| {system} | {job} | {memory / 2**20:.0f} / {disk / 2**20:.0f} |"
                  for system, job, memory, disk in spills]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench")
    parser.add_argument("--corpus", metavar="PATH",
                        help="text corpus, one document per line (.gz or plain); required")
    parser.add_argument("--systems", default="ours,gensim",
                        help="comma-separated: ours, kernel, gensim, mllib, ppmi, ppmi-ref "
                             "(default: %(default)s)")
    parser.add_argument("--partitions", default="1,2,4",
                        help="our partition counts to run, comma-separated (default: %(default)s)")
    parser.add_argument("--gensim-workers", default="1",
                        help="gensim worker thread counts, comma-separated (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="alternating runs of every system (default: %(default)s)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="config override, as in `python -m w2v_spark train` (repeatable): "
                             "hyperparameters apply to every system, spark.conf.* to mllib's "
                             "session too")
    parser.add_argument("--out", metavar="FILE.md", help="also write the Markdown table here")
    parser.add_argument("--stages", action="store_true",
                        help="also print each run's peak memory per stage and, for ours, the "
                             "bytes Spark spilled per job (from its event log)")
    parser.add_argument("--mllib-partitions", default="2",
                        help="pyspark.ml Word2Vec numPartitions, comma-separated "
                             "(default: %(default)s)")
    # Internal: the harness re-runs itself as a child process per reference system (with its
    # gensim workers or MLlib partitions as --workers).
    for child in ("--gensim-child", "--kernel-child", "--mllib-child", "--ppmi-ref-child"):
        parser.add_argument(child, help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.gensim_child:
        gensim_child(args.gensim_child, args.workers, args.set, args.out)
        return 0
    if args.kernel_child:
        kernel_child(args.kernel_child, args.set, args.out)
        return 0
    if args.ppmi_ref_child:
        ppmi_reference_child(args.ppmi_ref_child, args.set, args.out)
        return 0
    if args.mllib_child:
        mllib_child(args.mllib_child, args.workers, args.set, args.out)
        return 0

    if args.corpus is None:
        parser.error("--corpus is required")
    # Every system sees the reference tokenization (ASCII pattern, no normalization: what gensim
    # and MLlib are fed, and what read_documents can do with Python's re) unless --set says
    # otherwise; ours gets it through the same overrides.
    given = {item.split("=", 1)[0] for item in args.set}
    args.set = [f"{key}={value}" for key, value in REFERENCE_TOKENIZATION.items()
                if key not in given] + args.set
    config = load_config(None, args.set)
    systems = args.systems.split(",")
    partitions = [int(p) for p in args.partitions.split(",")]
    workers = [int(w) for w in args.gensim_workers.split(",")]
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="w2v-bench-") as tmp:
        workdir = Path(tmp)
        documents_path = workdir / "documents.txt"
        if {"gensim", "kernel", "mllib", "ppmi-ref"} & set(systems):
            with open(documents_path, "w", encoding="utf-8") as f:
                for doc in read_documents(args.corpus, config):
                    f.write(" ".join(doc) + "\n")
        ours, theirs = [], []
        if "ours" in systems:
            ours += [lambda p=p: run_ours(args.corpus, p, args.set, workdir,
                                          event_log=args.stages) for p in partitions]
        if "ppmi" in systems:
            ours += [lambda p=p: run_ours(args.corpus, p, args.set, workdir, "ppmi",
                                          event_log=args.stages) for p in partitions]
        if "kernel" in systems:
            ours.append(lambda: run_kernel(documents_path, args.set, workdir))
        if "gensim" in systems:
            theirs += [lambda w=w: run_gensim(documents_path, w, args.set, workdir) for w in workers]
        if "ppmi-ref" in systems:
            theirs.append(lambda: run_ppmi_reference(documents_path, args.set, workdir))
        if "mllib" in systems:
            theirs += [lambda p=p: run_mllib(documents_path, p, args.set, workdir)
                       for p in map(int, args.mllib_partitions.split(","))]
        failures = []
        for _ in range(args.repeats):
            # alternate: ours, gensim, ours, gensim, ... so machine load hits both alike
            for i in range(max(len(ours), len(theirs))):
                for run in ours[i : i + 1] + theirs[i : i + 1]:
                    try:
                        results.append(run())
                    except JobFailed as failed:  # reported, and the other runs go on
                        print(f"error: {failed}", file=sys.stderr, flush=True)
                        failures.append(str(failed))
    reference = "gensim" if "gensim" in systems or "ppmi-ref" not in systems else "PPMI-SVD reference"
    table = markdown(results, reference)
    if args.stages:
        table += "\n\n" + stage_markdown(results)
    if failures:
        table += "\n\nFailed: " + "; ".join(failures)
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
