"""Count-based branch, stage 3: truncated SVD of the sparse PPMI matrix → word vectors.

A randomized SVD (Halko, Martinsson & Tropp 2011, algorithm 4.4 with power iterations): the
sparse matrix ``A`` (vocab × vocab) stays distributed as SciPy CSR blocks of bounded size,
cached; every product with it is a Spark job in which each task multiplies its blocks by a
broadcast dense ``vocab × (rank + oversample)`` matrix and the partial results are summed in a
fixed order (:func:`ordered_sum`). The driver only holds dense matrices of that tall-thin shape
(the size of the model) and never a ``vocab × vocab`` one.

Why not MLlib's ``RowMatrix.computeSVD``: it runs one Spark job per ARPACK iteration (hundreds
for 100 singular vectors of a slowly decaying spectrum), and needs the rows converted to JVM
vectors from Python; measured in BENCHMARKS.md.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from pyspark import RDD, StorageLevel
from pyspark.sql import DataFrame

log = logging.getLogger(__name__)

_PACKED = "rows binary, cols binary, values binary"


def _pack(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``(row int, col int, value double)`` batches → one row of raw little-endian arrays."""
    for batch in batches:
        yield pa.RecordBatch.from_pydict(
            {
                "rows": [batch.column(0).to_numpy().astype(np.int32).tobytes()],
                "cols": [batch.column(1).to_numpy().astype(np.int32).tobytes()],
                "values": [batch.column(2).to_numpy().astype(np.float64).tobytes()],
            },
            schema=pa.schema([("rows", pa.binary()), ("cols", pa.binary()), ("values", pa.binary())]),
        )


#: Entries of one CSR block (:func:`sparse_blocks`), 64 MB of them (plus at most one Arrow batch
#: of 10,000 more). A partition holds as many blocks as it needs, so no Python worker or JVM
#: handles a larger one, whatever the matrix (one block per partition was 200 MB at 25 M PPMI
#: entries on 2 partitions).
BLOCK_ENTRIES = 1 << 22


def sparse_blocks(entries: DataFrame, shape: tuple[int, int], partitions: int, *,
                  block_entries: int = BLOCK_ENTRIES) -> RDD:
    """The matrix with the given ``(row, column, value)`` entries (first three columns, no
    duplicates) as an RDD of CSR blocks of the full ``shape``, summing to it: ``partitions``
    partitions, each of consecutive blocks of at least ``block_entries`` entries (the last one
    smaller). Persisted; the caller unpersists."""
    n_rows, n_cols = shape

    def csr(r, c, v) -> sp.csr_matrix:
        cat = (lambda parts, dtype: np.concatenate(parts) if parts else np.zeros(0, dtype=dtype))
        block = sp.csr_matrix((cat(v, np.float64), (cat(r, np.int32), cat(c, np.int32))), shape=(n_rows, n_cols))
        block.sort_indices()  # products then add in a fixed order, whatever the row order was
        return block

    def to_csr(rows) -> Iterator[sp.csr_matrix]:
        r, c, v, entries, emitted = [], [], [], 0, False
        for row in rows:
            r.append(np.frombuffer(row.rows, dtype=np.int32))
            c.append(np.frombuffer(row.cols, dtype=np.int32))
            v.append(np.frombuffer(row.values, dtype=np.float64))
            entries += r[-1].shape[0]
            if entries >= block_entries:
                yield csr(r, c, v)
                r, c, v, entries, emitted = [], [], [], 0, True
        if r or not emitted:
            yield csr(r, c, v)

    packed = entries.coalesce(partitions).mapInArrow(_pack, _PACKED)
    return packed.rdd.mapPartitions(to_csr).persist(StorageLevel.MEMORY_AND_DISK)


def ordered_sum(parts: RDD, fan_in: int = 4) -> np.ndarray:
    """Sum one array per partition in partition order, as a tree of ``fan_in``-way sums.

    Spark's ``treeReduce`` merges partial results in the order they arrive from the shuffle,
    which changes the floating-point rounding from run to run; here every sum is taken over
    operands sorted by partition index, so the result has the same bits every time. The driver
    holds at most ``fan_in`` arrays at once.
    """
    level = parts.mapPartitionsWithIndex(lambda index, arrays: [(index, _sum_in_order(arrays))])
    count = level.getNumPartitions()
    while count > fan_in:
        count = -(-count // fan_in)
        level = (
            level.map(lambda item: (item[0] // fan_in, item))
            .groupByKey(numPartitions=count)
            .map(lambda group: (group[0], _sum_in_order(a for _, a in sorted(group[1], key=lambda x: x[0]))))
        )
    return _sum_in_order(a for _, a in sorted(level.collect(), key=lambda item: item[0]))


def _sum_in_order(arrays) -> np.ndarray:
    total = None
    for array in arrays:
        total = array.copy() if total is None else total + array
    return total


def _product(blocks: RDD, dense: np.ndarray, transpose: bool) -> np.ndarray:
    """``A @ dense`` (or ``A.T @ dense``) as the sum of the blocks' products: one Spark job."""
    shared = blocks.context.broadcast(dense)
    try:
        if transpose:
            parts = blocks.map(lambda block: block.T @ shared.value)
        else:
            parts = blocks.map(lambda block: block @ shared.value)
        return ordered_sum(parts)
    finally:
        shared.destroy()


def randomized_svd(
    blocks: RDD,
    shape: tuple[int, int],
    rank: int,
    *,
    oversample: int = 20,
    power_iterations: int = 4,
    seed: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top ``rank`` singular triplets of the distributed matrix ``A`` (the sum of ``blocks``).

    ``2 · power_iterations + 2`` passes over ``A``. With ``rank + oversample ≥ min(shape)`` the
    result is exact up to rounding.

    Returns:
        ``U (n_rows, rank) float64``, ``S (rank,) float64`` descending,
        ``Vt (rank, n_cols) float64``; signs fixed so that each column of ``U`` has its largest
        absolute entry positive (deterministic output).
    """
    n_rows, n_cols = shape
    width = min(rank + oversample, n_rows, n_cols)
    rng = np.random.default_rng(seed)
    test_matrix = rng.standard_normal((n_cols, width))
    # Orthonormalising after every product keeps the small singular directions from being
    # drowned in rounding error by the power iterations.
    basis, _ = np.linalg.qr(_product(blocks, test_matrix, transpose=False))
    for step in range(power_iterations):
        co_basis, _ = np.linalg.qr(_product(blocks, basis, transpose=True))
        basis, _ = np.linalg.qr(_product(blocks, co_basis, transpose=False))
        log.info("svd: power iteration %d/%d", step + 1, power_iterations)
    projected = _product(blocks, basis, transpose=True).T  # (width, n_cols) = basisᵀ A
    small_u, singular, vt = np.linalg.svd(projected, full_matrices=False)
    u = basis @ small_u[:, :rank]
    singular, vt = singular[:rank], vt[:rank]
    signs = np.sign(u[np.argmax(np.abs(u), axis=0), np.arange(u.shape[1])])
    signs[signs == 0] = 1.0
    return u * signs, singular, vt * signs[:, None]


def word_vectors(u: np.ndarray, singular: np.ndarray, eigenvalue_weight: float) -> np.ndarray:
    """``U · Σ^p`` as ``(vocab, rank) float32`` (p = 0.5 by Levy et al. 2015; 0 uses U alone)."""
    return (u * np.power(singular, eigenvalue_weight)[None, :]).astype(np.float32)
