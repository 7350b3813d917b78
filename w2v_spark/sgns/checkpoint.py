"""Per-epoch checkpoints of SGNS training, and resuming from the last complete one.

Every random draw of epoch ``e`` comes from ``(seed, e, partition, …)`` and the learning rate is
a function of the epoch, so the model after an epoch (two float32 matrices) is the whole training
state: a run resumed from epoch ``N``'s checkpoint produces the same bits as one never stopped.

Checkpoints live beside the output, in ``.<name>._checkpoints/epoch=N/`` (hidden, like the staging
directory): the output directory itself must not exist until the run is complete. Each is
written under a temporary name and renamed when complete; only the newest is kept (the newest
two on a local disk, see :meth:`Checkpoints.save`).
"""

from __future__ import annotations

import hashlib
import io as _bytes_io
import json
import logging
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import pyarrow as pa
from pyspark.sql import SparkSession

from w2v_spark.corpus.vocab import word_strings
from w2v_spark.errors import ConfigError
from w2v_spark.spark.files import FileSystem, qualify

log = logging.getLogger(__name__)

#: Config sections and keys that do not change the trained vectors (so a resume may differ).
_IRRELEVANT = {("spark", "master"), ("spark", "app_name"), ("spark", "conf"), ("output", None),
               ("debug", None), ("pipeline", None), ("ppmi", None), ("sgns", "kernel")}


def training_config(config: dict) -> dict:
    """The part of the resolved config that determines the vectors, flattened to ``section.key``."""
    flat = {}
    for section, values in config.items():
        if (section, None) in _IRRELEVANT:
            continue
        for key, value in values.items():
            if (section, key) not in _IRRELEVANT:
                flat[f"{section}.{key}"] = value
    return flat


def vocabulary_fingerprint(words: Sequence[str] | pa.StringArray, counts: np.ndarray) -> str:
    """SHA-256 of the words (joined by newlines) and their counts: what a checkpoint was
    trained on. An Arrow array is hashed 64k words at a time, the same digest."""
    digest = hashlib.sha256()
    step = 1 << 16
    for start in range(0, len(words), step):
        text = "\n".join(word_strings(words[start : start + step]))
        digest.update((text if start == 0 else "\n" + text).encode("utf-8"))
    digest.update(np.asarray(counts, dtype=np.int64).tobytes())
    return digest.hexdigest()


def _npy_chunks(array: np.ndarray) -> list:
    """``array`` in ``.npy`` format (what ``np.save`` writes) as a header and the array's own
    buffer: written without an intermediate copy of the matrix."""
    array = np.ascontiguousarray(array)
    header = _bytes_io.BytesIO()
    np.lib.format.write_array_header_1_0(header, np.lib.format.header_data_from_array_1_0(array))
    return [header.getvalue(), array.data]


def checkpoint_root(output: str) -> str:
    """Where the checkpoints of the run writing ``output`` live: a hidden sibling of it."""
    parent, name = qualify(output).rstrip("/").rsplit("/", 1)
    return f"{parent}/.{name}._checkpoints"


def remove_checkpoints(spark: SparkSession, output: str) -> None:
    root = checkpoint_root(output)
    FileSystem(root).delete(root)


class Checkpoints:
    """The checkpoints of the run writing ``output``, for one training config and vocabulary
    (``vocabulary``: :func:`vocabulary_fingerprint`)."""

    def __init__(self, spark: SparkSession, output: str, config: dict, vocabulary: str):
        self.root = checkpoint_root(output)
        self.fs = FileSystem(self.root)
        self.config = training_config(config)
        self.vocabulary = vocabulary
        self._writer: ThreadPoolExecutor | None = None
        self._pending: Future | None = None
        self._copies: tuple[np.ndarray, np.ndarray] | None = None

    def _epochs(self) -> list[int]:
        return sorted(int(n.split("=")[1]) for n in self.fs.list_names(self.root)
                      if n.startswith("epoch=") and self.fs.exists(f"{self.root}/{n}/_COMPLETE"))

    def save(self, epoch: int, syn0: np.ndarray, syn1: np.ndarray, reports: list[dict]) -> None:
        """Write the state after ``epoch`` (1-based) atomically, then drop older checkpoints.

        On the driver's own disk the newest two are kept, and the one before them is not
        deleted but renamed to the new checkpoint's partial directory and overwritten in place:
        its page cache is reused instead of fresh memory (27 MB per epoch on bench-en, which cost
        ≈ 0.07 CPU s per checkpoint, on the cores that train, on the VM of BENCHMARKS.md).
        Elsewhere only the newest is kept."""
        final = f"{self.root}/epoch={epoch}"
        partial = f"{self.root}/.epoch={epoch}.partial"
        self.fs.delete(partial)
        older = [e for e in self._epochs() if e < epoch]
        if self.fs.local and len(older) >= 2:
            self.fs.rename(f"{self.root}/epoch={older[0]}", partial)
            self.fs.delete(f"{partial}/_COMPLETE")
        meta = {"epoch": epoch, "config": self.config, "vocabulary": self.vocabulary,
                "reports": reports}
        self.fs.write_bytes(f"{partial}/state.json", iter([json.dumps(meta, sort_keys=True).encode()]))
        self.fs.write_bytes(f"{partial}/syn0.npy", iter(_npy_chunks(syn0)))
        self.fs.write_bytes(f"{partial}/syn1.npy", iter(_npy_chunks(syn1)))
        self.fs.write_bytes(f"{partial}/_COMPLETE", iter([b""]))
        self.fs.delete(final)
        self.fs.rename(partial, final)
        keep = older[-1:] if self.fs.local else []
        for previous in self._epochs():
            if previous < epoch and previous not in keep:
                self.fs.delete(f"{self.root}/epoch={previous}")
        log.info("checkpoint of epoch %d written to %s", epoch, final)

    def save_in_background(self, epoch: int, syn0: np.ndarray, syn1: np.ndarray,
                           reports: list[dict]) -> None:
        """:meth:`save` copies of the matrices on a background thread, so that the next epoch
        trains while they are written (on bench-en a save takes ≈ 0.6 s, 5 % of an epoch, when
        the driver would otherwise wait). Waits for the previous save first; its error, if any,
        is raised here.

        The copies go into the same two buffers every epoch: fresh pages for 27 MB per epoch
        (bench-en) cost ≈ 0.16 s of kernel time on the VM of BENCHMARKS.md, on the cores that
        train."""
        self.wait()
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="w2v-checkpoint")
        if self._copies is None or self._copies[0].shape != syn0.shape \
                or self._copies[1].shape != syn1.shape:
            self._copies = (np.empty_like(syn0), np.empty_like(syn1))
        np.copyto(self._copies[0], syn0)
        np.copyto(self._copies[1], syn1)
        self._pending = self._writer.submit(self.save, epoch, *self._copies, list(reports))

    def wait(self) -> None:
        """Block until the background save (if any) is on disk; raise its error."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def seal(self, epoch: int, directory: str, reports: list[dict], *, partitions: int,
             vocab_size: int) -> None:
        """Make ``directory`` (``root/epoch=<epoch>``, the slice files executor-resident
        training left after ``epoch``; :mod:`w2v_spark.sgns.resident_epochs`) a checkpoint: its
        state, then ``_COMPLETE``; then drop the older checkpoints."""
        meta = {"epoch": epoch, "config": self.config, "vocabulary": self.vocabulary,
                "reports": reports, "layout": "slices", "partitions": partitions,
                "vocab_size": vocab_size}
        self.fs.write_bytes(f"{directory}/state.json",
                            iter([json.dumps(meta, sort_keys=True).encode()]))
        self.fs.write_bytes(f"{directory}/_COMPLETE", iter([b""]))
        for name in self.fs.list_names(self.root):
            if name.startswith("epoch=") and f"{self.root}/{name}" != directory:
                self.fs.delete(f"{self.root}/{name}")
        log.info("checkpoint of epoch %d written to %s", epoch, directory)

    def newest(self) -> tuple[int, dict, str] | None:
        """The newest complete checkpoint as ``(epoch, state, path)``, or None; its matrices are
        ``syn0.npy`` / ``syn1.npy`` in ``path``, or (``state["layout"] == "slices"``) slice files.

        Raises:
            ConfigError: it was made with a different training config or vocabulary.
        """
        epochs = self._epochs()
        if not epochs:
            return None
        path = f"{self.root}/epoch={epochs[-1]}"
        meta = json.loads(self.fs.read_bytes(f"{path}/state.json"))
        if meta["config"] != self.config:
            differing = sorted(k for k in set(meta["config"]) | set(self.config)
                               if meta["config"].get(k) != self.config.get(k))
            raise ConfigError(
                f"cannot resume from {path}: it was made with different settings "
                f"({', '.join(differing)}); rerun without --resume to start over"
            )
        if meta["vocabulary"] != self.vocabulary:
            raise ConfigError(
                f"cannot resume from {path}: the vocabulary differs (changed input?); "
                "rerun without --resume to start over"
            )
        return meta["epoch"], meta, path

    def latest(self) -> tuple[int, np.ndarray, np.ndarray, list[dict]] | None:
        """The newest complete checkpoint as ``(epoch, syn0, syn1, reports)`` on this machine, or
        None (:meth:`newest` says which, and raises as it does)."""
        found = self.newest()
        if found is None:
            return None
        epoch, meta, path = found
        if meta.get("layout") == "slices":
            from w2v_spark.sgns.slices import (  # only this format needs it
                part_path,
                read_all,
            )

            paths = [part_path(path, t) for t in range(meta["partitions"])]
            syn0, syn1 = read_all(self.fs, paths, *self._shape(meta))
            return epoch, syn0, syn1, meta["reports"]
        load = lambda name: np.load(_bytes_io.BytesIO(self.fs.read_bytes(f"{path}/{name}")))  # noqa: E731
        return epoch, load("syn0.npy"), load("syn1.npy"), meta["reports"]

    def _shape(self, meta: dict) -> tuple[int, int]:
        """``(vocab_size, vector_size)`` of a checkpoint's model."""
        return meta["vocab_size"], int(meta["config"]["sgns.vector_size"])
