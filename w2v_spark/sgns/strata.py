"""Stratified ownership of the model rows: parallel SGD without averaging (NumPy only).

With ``P`` partitions, every epoch deals the vocabulary into ``P`` buckets and runs ``P``
sub-epochs (strata). In stratum ``s``, partition ``p`` trains exactly the (centre, context) pairs
whose centre is in bucket ``p`` and whose context is in bucket ``(p + s) mod P``, with negatives
drawn from bucket ``p`` only. It then reads and writes only output vectors (``syn1``) of bucket
``p`` and input vectors (``syn0``) of bucket ``(p + s) mod P``: no row has two writers, so the
partitions' results are simply put together, and over the ``P`` strata every pair of the epoch is
trained exactly once. This is stratified SGD for matrix factorisation (Gemulla et al. 2011)
applied to SGNS, itself an implicit factorisation (Levy & Goldberg 2014); the idea of hashing
embeddings to partitions for Spark comes from apache/spark PR #37967.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from w2v_spark.sgns.kernel import Windows
from w2v_spark.sgns.sampling import build_noise_table


def assign_buckets(mass: np.ndarray, buckets: int, rng: np.random.Generator) -> np.ndarray:
    """Deal words to ``buckets`` buckets of nearly equal ``mass``.

    Words are taken in descending mass, ``buckets`` at a time, and each such round is dealt in a
    random order, so every bucket gets one word of every rank band.

    Since negatives come from the centre's bucket, words of one band never meet as centre and
    negative. A deal without that gap (the words in a random order cut into runs of equal mass)
    scored the same (bench-en, 8 partitions, ten seeds: WS353 +0.003 ± 0.006, analogy −0.19 ± 0.18
    points against this deal) and balances buckets only to within one word's mass (8 buckets:
    11.8–13.0 % of the mass), so at many partitions a stage would wait on its heaviest bucket.

    Args:
        mass: ``(vocab_size,)`` expected training tokens per word (count × keep probability).

    Returns:
        ``(vocab_size,) int32`` bucket of each word id.
    """
    vocab_size = mass.shape[0]
    order = np.argsort(-mass, kind="stable")
    rounds = -(-vocab_size // buckets)
    deals = rng.permuted(np.tile(np.arange(buckets, dtype=np.int32), (rounds, 1)), axis=1)
    assignment = np.empty(vocab_size, dtype=np.int32)
    assignment[order] = deals.ravel()[:vocab_size]
    return assignment


def block_id(stratum: int, bucket: int, buckets: int) -> int:
    return stratum * buckets + bucket


def split_blocks(windows: Windows, assignment: np.ndarray, buckets: int) -> dict[int, Windows]:
    """Cut ``windows`` into the blocks of :func:`block_id` (stratum, centre bucket).

    A pair (centre in bucket ``p``, context in bucket ``q``) belongs to stratum
    ``(q - p) mod buckets``. Within a block, groups and pairs keep corpus order; a centre keeps
    only its contexts of that block. Empty blocks are left out.
    """
    sizes = np.diff(windows.offsets)
    group_of_pair = np.repeat(np.arange(windows.groups, dtype=np.int32), sizes)
    # Keys as uint8 / uint16: NumPy's stable argsort of 8- and 16-bit integers is a radix sort
    # (O(n)), 3× faster here than comparison sorting int64 keys (measured on bench-en).
    kind = np.uint8 if buckets <= 16 else np.uint16 if buckets <= 256 else np.int64
    bucket_of = assignment.astype(kind, copy=False)
    centre_bucket = bucket_of[windows.centre][group_of_pair]
    stratum = (bucket_of[windows.context] + kind(buckets) - centre_bucket) % kind(buckets)
    key = stratum * kind(buckets) + centre_bucket
    order = np.argsort(key, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(np.bincount(key, minlength=buckets * buckets))))
    blocks = {}
    for block in np.flatnonzero(np.diff(bounds)):
        pairs = order[bounds[block] : bounds[block + 1]]
        # The stable sort keeps corpus order, so a block's group numbers are non-decreasing.
        group = group_of_pair[pairs]
        starts = np.flatnonzero(np.concatenate(([True], group[1:] != group[:-1])))
        blocks[int(block)] = Windows(
            centre=windows.centre[group[starts]],
            offsets=np.concatenate((starts, [pairs.shape[0]])).astype(np.int64),
            context=windows.context[pairs],
        )
    return blocks


@dataclass(frozen=True)
class Deal:
    """One round's buckets, and where each word sits in its bucket's slice of the model.

    A trainer holds only the rows of its buckets, as a slice whose row ``i`` is the bucket's
    ``i``-th word in id order; blocks carry word ids already translated to those rows.

    Attributes:
        bucket: ``(vocab_size,) int32`` bucket of each word id (:func:`assign_buckets`).
        rank: ``(vocab_size,) int32`` row of each word in its bucket's slice.
        largest: rows in the largest slice (bounds the rows a block refers to).
    """

    bucket: np.ndarray
    rank: np.ndarray
    largest: int

    @classmethod
    def of(cls, assignment: np.ndarray, buckets: int) -> "Deal":
        sizes = np.bincount(assignment, minlength=buckets)
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        order = np.argsort(assignment, kind="stable")  # by bucket, ids ascending within one
        rank = np.empty(assignment.shape[0], dtype=np.int32)
        rank[order] = np.arange(assignment.shape[0]) - np.repeat(starts, sizes)
        return cls(bucket=assignment.astype(np.int32, copy=False), rank=rank,
                   largest=int(sizes.max()) if sizes.size else 0)

    def words(self, bucket: int) -> np.ndarray:
        """``(k,) int32`` word ids of ``bucket`` in id order: the rows of its slice."""
        return np.flatnonzero(self.bucket == bucket).astype(np.int32)

    def noise(self, counts: np.ndarray, bucket: int, exponent: float):
        """Negative sampling restricted to ``bucket``: ∝ count^exponent over its words; draws
        are rows of the bucket's slice."""
        return build_noise_table(counts[self.words(bucket)], exponent)


def pack_block(windows: Windows, vocab_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A block in the smallest dtypes that hold it, for the shuffle: ids (below ``vocab_size``)
    as ``uint16`` when they fit, per-group context counts instead of ``int64`` offsets (``uint8`` for
    windows up to 127). On bench-en this halves the bytes every epoch writes and reads.

    Returns ``(centre, contexts per group, context)``; :func:`unpack_block` inverts it exactly.
    """
    ids = np.uint16 if vocab_size <= 1 << 16 else np.int32
    sizes = np.diff(windows.offsets)
    counts = sizes.astype(np.uint8) if sizes.size == 0 or sizes.max() < 256 else sizes
    return windows.centre.astype(ids), counts, windows.context.astype(ids)


def unpack_block(packed: tuple[np.ndarray, np.ndarray, np.ndarray]) -> Windows:
    centre, counts, context = packed
    offsets = np.zeros(counts.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return Windows(centre=centre.astype(np.int32), offsets=offsets, context=context.astype(np.int32))
