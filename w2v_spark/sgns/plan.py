"""What every task of an epoch shares: the per-word tables, the epoch's plan (settings, seeds,
partitions, rounds), timing by phase, and the start-of-task hooks."""

from __future__ import annotations

import gc
import logging
import os
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from pyspark import TaskContext

from w2v_spark.sgns.kernel import TrainSettings
from w2v_spark.sgns.sampling import NoiseTable, build_noise_table


@dataclass(frozen=True)
class Tables:
    """Read-only per-word tables, broadcast once per job.

    Attributes:
        counts: ``(vocab_size,) int64`` corpus counts.
        keep_probability: ``(vocab_size,) float32`` subsampling keep chance.
        noise: alias table over ``counts ** ns_exponent``.
    """

    counts: np.ndarray
    keep_probability: np.ndarray
    noise: NoiseTable
    ns_exponent: float

    @classmethod
    def build(cls, counts: np.ndarray, keep_probability: np.ndarray, ns_exponent: float) -> "Tables":
        """From a vocabulary's counts and keep probabilities: the noise table over
        ``counts ** ns_exponent``, built once."""
        return cls(counts=counts, keep_probability=np.asarray(keep_probability, dtype=np.float32),
                   noise=build_noise_table(counts, ns_exponent), ns_exponent=ns_exponent)


#: Tokens the block cutter samples windows for at a time (``EpochPlan.slice_tokens``, which tests
#: set lower to cut many slices from a small corpus). Its temporaries then stay within a
#: few MB (cache-resident, and recycled by the worker's malloc from the first slice on) instead of
#: ~200 MB of fresh pages in a worker's first task: cutting a bench-en partition took 0.92 s in a
#: new process and 0.30 s after with 1M-token slices, 0.27 s throughout with 64k (scratch bench,
#: THP on madvise); the first epoch's map stage at local[2] went from 1.43 s to 0.59-0.73 s.
BLOCK_SLICE_TOKENS = 1 << 16


@dataclass(frozen=True)
class EpochPlan:
    """What every task of one epoch needs to know besides the model."""

    settings: TrainSettings
    seed: int
    epoch: int
    epochs: int
    partitions: int
    rounds: int = 1
    slice_tokens: int = BLOCK_SLICE_TOKENS
    #: ``(epoch, partition)`` (1-based epoch) whose first task attempt kills its Python worker.
    fail_task_once: tuple[int, int] | None = None

    def progress(self, start: float, end: float) -> tuple[float, float]:
        """This epoch's slice ``[start, end]`` (fractions of the epoch) of the whole run."""
        return (self.epoch + start) / self.epochs, (self.epoch + end) / self.epochs

    def rng(self, *key: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.seed, self.epoch, *key]))


class Split:
    """Seconds spent per phase (an epoch's broadcast / train / merge, or a job's stages); with a
    ``log``, the start of each phase is logged."""

    def __init__(self, log: logging.Logger | None = None):
        self.seconds: dict[str, float] = defaultdict(float)
        self._log = log
        #: The phase entered last (kept after it ends or fails): where a failure happened.
        self.current: str | None = None

    def rounded(self) -> dict[str, float]:
        return {phase: round(seconds, 3) for phase, seconds in self.seconds.items()}

    @contextmanager
    def __call__(self, phase: str):
        if self._log is not None:
            self._log.info("%s ...", phase)
        self.current = phase
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] += time.perf_counter() - start


def freeze_worker_heap() -> None:
    """Move every object the Python worker holds now (its imports, numba's compiled kernel and
    type system) out of the cyclic garbage collector's reach, at the start of each task.

    A training task allocates few container objects, but each full collection walks the whole
    heap, and numba's objects make it large: on bench-en the collector took ≈ 4.5 % of the
    trainers' CPU (``perf``, 5 epochs, ``local[2]``). Frozen objects are still freed by reference
    counting; only cycles among them stay (a task's records hold none)."""
    gc.freeze()


def inject_failure(plan: EpochPlan, partition: int) -> None:
    """``[debug] fail_task_once``: the first attempt of this task exits its Python worker hard,
    as an executor lost to the OOM killer would; Spark then retries it."""
    if plan.fail_task_once != (plan.epoch + 1, partition):
        return
    context = TaskContext.get()
    if context is not None and context.attemptNumber() == 0:
        os._exit(17)
