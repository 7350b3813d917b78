"""Count-based branch, stage 3: truncated SVD of the sparse PPMI matrix → word vectors.

A randomized SVD (Halko, Martinsson & Tropp 2011, algorithm 4.4 with power iterations). The
sparse matrix ``A`` (vocab × vocab) stays distributed twice, as CSR blocks of consecutive rows
of ``A`` and of ``Aᵀ`` (:class:`RowBlocks`, cached on the executors' disks); every product
``A @ X`` or ``Aᵀ @ Y`` with a dense ``vocab × (rank + oversample)`` matrix is a Spark job in
which each task multiplies its rows by the shared matrix (:class:`~w2v_spark.spark.context.Shared`:
a broadcast, or over Spark Connect a file), and the driver puts the row ranges together. The
blocks are a DataFrame, each job a ``mapInArrow`` over it: it runs in a classic and a Spark
Connect session alike. Each row is computed whole by one task, in one order (sorted CSR indices): the result
has the same bits however the matrix is cut, and nothing of the full product's size is summed or
shuffled. The driver only holds dense matrices of that tall-thin shape (the size of the model)
and never a ``vocab × vocab`` one; its JVM holds one task's rows at a time.

Why not MLlib's ``RowMatrix.computeSVD``: it runs one Spark job per ARPACK iteration (hundreds
for 100 singular vectors of a slowly decaying spectrum), and needs the rows converted to JVM
vectors from Python; measured in BENCHMARKS.md.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from w2v_spark.corpus.pack import ONE_ROW_PER_BATCH
from w2v_spark.spark.context import Shared, lent_settings

if TYPE_CHECKING:
    import scipy.sparse as sp

log = logging.getLogger(__name__)

#: One row per CSR block of consecutive rows: its first row, its height, and its arrays' raw
#: little-endian bytes (``indptr`` int64, ``indices`` int32, ``data`` float64).
_BLOCKS = "start long, height int, indptr binary, indices binary, data binary"
_BLOCKS_ARROW = pa.schema([("start", pa.int64()), ("height", pa.int32()), ("indptr", pa.binary()),
                           ("indices", pa.binary()), ("data", pa.binary())])
#: A piece of a product: its first row and its rows' raw float64 bytes.
_PIECES = "start long, rows binary"
_PIECES_ARROW = pa.schema([("start", pa.int64()), ("rows", pa.binary())])

#: About how many entries one block of rows holds (64 MB of them): the matrix is cut into
#: ``ceil(entries / BLOCK_ENTRIES)`` row ranges (at least one per training partition), so no
#: Python worker or JVM handles a larger piece, whatever the matrix.
BLOCK_ENTRIES = 1 << 22

#: Most elements of one piece of a product on its way to the driver (16 MB of float64).
GATHER_ELEMENTS = 1 << 21


def first_rows(n_rows: int, blocks: int) -> np.ndarray:
    """``(blocks + 1,)`` row bounds: block ``b`` holds rows ``[bounds[b], bounds[b + 1])``, the
    rows ``r`` with ``r · blocks // n_rows == b``."""
    return np.array([-(-b * n_rows // blocks) for b in range(blocks + 1)], dtype=np.int64)


def _block_of(row, n_cols: int) -> tuple[int, sp.csr_matrix]:
    """A row of ``_BLOCKS`` → ``(first row, csr (height, n_cols) float64)``."""
    import scipy.sparse as sp

    arrays = (np.frombuffer(row["data"], np.float64), np.frombuffer(row["indices"], np.int32),
              np.frombuffer(row["indptr"], np.int64))
    return int(row["start"]), sp.csr_matrix(arrays, shape=(int(row["height"]), n_cols))


def _block_rows(batches) -> Iterator[dict]:
    for batch in batches:
        yield from batch.to_pylist()


def _products(batches, *, shared: Shared, n_cols: int, piece_elements: int):
    """``mapInArrow`` body: each block's product with the shared dense matrix, in pieces."""
    dense = shared.value
    for row in _block_rows(batches):
        start, block = _block_of(row, n_cols)
        for first, rows in _row_pieces(start, block @ dense, piece_elements):
            yield pa.RecordBatch.from_pydict(
                {"start": [first], "rows": [np.ascontiguousarray(rows).tobytes()]},
                schema=_PIECES_ARROW)


@dataclass(frozen=True)
class RowBlocks:
    """A sparse ``shape`` matrix as CSR blocks of consecutive rows: ``frame`` has one row per
    block (``_BLOCKS``), persisted on the executors' disks. ``work``: where a Spark Connect
    session's dense factors go (storage every executor reaches; a classic session broadcasts
    them)."""

    frame: DataFrame
    shape: tuple[int, int]
    work: str | None = None

    def multiply(self, dense: np.ndarray, piece_elements: int = GATHER_ELEMENTS) -> np.ndarray:
        """``self @ dense``, ``(n_rows, k) float64``: one Spark job; the rows reach the driver
        one task at a time (``toLocalIterator``), in pieces of at most ``piece_elements``."""
        spark = self.frame.sparkSession
        shared = Shared(spark, dense, self.work)
        product = np.zeros((self.shape[0], dense.shape[1]))
        try:
            pieces = self.frame.mapInArrow(functools.partial(
                _products, shared=shared, n_cols=self.shape[1], piece_elements=piece_elements),
                _PIECES)
            with lent_settings(spark, ONE_ROW_PER_BATCH):
                for row in pieces.toLocalIterator():
                    rows = np.frombuffer(row["rows"], np.float64).reshape(-1, dense.shape[1])
                    product[row["start"] : row["start"] + rows.shape[0]] = rows
        finally:
            shared.destroy()
        return product

    def blocks(self) -> list[tuple[int, sp.csr_matrix]]:
        """Every block, ``(first row, csr)``, in row order (on the driver: tests, small
        matrices)."""
        return sorted((_block_of(row, self.shape[1]) for row in self.frame.toArrow().to_pylist()),
                      key=lambda item: item[0])

    def count(self) -> int:
        """Blocks (materialises the cache)."""
        return self.frame.count()

    def unpersist(self) -> None:
        self.frame.unpersist()


def _row_pieces(start: int, rows: np.ndarray, piece_elements: int):
    """``(first row, rows)`` pieces of ``rows`` (a block's product) of at most ``piece_elements``."""
    step = max(1, piece_elements // max(1, rows.shape[1]))
    for offset in range(0, rows.shape[0], step):
        yield start + offset, rows[offset : offset + step]


def sparse_blocks(entries: DataFrame, shape: tuple[int, int], partitions: int, *,
                  entry_count: int | None = None, block_entries: int = BLOCK_ENTRIES,
                  work: str | None = None) -> RowBlocks:
    """The matrix with the given ``(row, column, value)`` entries (first three columns, no
    duplicates) as :class:`RowBlocks`: ``max(partitions, ceil(entries / block_entries))``
    ranges of consecutive rows (fewer when the matrix has fewer rows), one CSR block each.
    ``entry_count``: the number of entries when the caller knows it (else counted). Persisted on
    disk; the caller unpersists. For ``Aᵀ`` pass the columns first and the shape swapped.
    ``work``: see :class:`RowBlocks`."""
    n_rows, n_cols = shape
    if entry_count is None:
        entry_count = entries.count()
    blocks = max(1, min(n_rows, max(partitions, -(-entry_count // block_entries))))
    bounds = first_rows(n_rows, blocks)
    names = entries.columns[:3]
    row, col, value = (F.col(c) for c in names)
    keyed = entries.select(
        F.expr(f"CAST(CAST(`{names[0]}` AS BIGINT) * {blocks} div {n_rows} AS INT)").alias("bucket"),
        row.cast("int").alias("row"), col.cast("int").alias("col"), value.cast("double").alias("value"),
    )
    # One shuffle, by block: each row's entries in one task, sorted, so that a block's CSR (and
    # so the sums of its products) is the same whatever the order of the input.
    sorted_entries = keyed.repartition(blocks, "bucket").sortWithinPartitions("bucket", "row", "col")

    def to_blocks(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        bucket, parts = None, []
        for batch in batches:
            arrays = (batch.column(0).to_numpy().astype(np.int32),
                      batch.column(1).to_numpy().astype(np.int32),
                      batch.column(2).to_numpy().astype(np.int32),
                      batch.column(3).to_numpy().astype(np.float64))
            cuts = np.flatnonzero(np.diff(arrays[0])) + 1
            for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, arrays[0].shape[0]], strict=True):
                if lo == hi:
                    continue
                if arrays[0][lo] != bucket:
                    if parts:
                        yield _csr(bucket, parts, bounds, n_cols)
                    bucket, parts = int(arrays[0][lo]), []
                parts.append(tuple(a[lo:hi] for a in arrays[1:]))
        if parts:
            yield _csr(bucket, parts, bounds, n_cols)

    frame = sorted_entries.mapInArrow(to_blocks, _BLOCKS).persist(StorageLevel.DISK_ONLY)
    return RowBlocks(frame, shape, work)


def _csr(bucket: int, parts: list, bounds: np.ndarray, n_cols: int) -> pa.RecordBatch:
    """A block's entries → its ``_BLOCKS`` row."""
    start, stop = int(bounds[bucket]), int(bounds[bucket + 1])
    rows, cols, values = (np.concatenate([p[i] for p in parts]) for i in range(3))
    import scipy.sparse as sp  # here: 12 MB that a driver which never counts pairs need not load

    block = sp.csr_matrix((values, (rows - start, cols)), shape=(stop - start, n_cols))
    block.sort_indices()  # each row's products add in column order, whatever the input order
    return pa.RecordBatch.from_pydict(
        {"start": [start], "height": [stop - start],
         "indptr": [block.indptr.astype(np.int64).tobytes()],
         "indices": [block.indices.astype(np.int32).tobytes()],
         "data": [block.data.astype(np.float64).tobytes()]}, schema=_BLOCKS_ARROW)


def randomized_svd(
    matrix: RowBlocks,
    transposed: RowBlocks,
    rank: int,
    *,
    oversample: int = 20,
    power_iterations: int = 4,
    seed: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top ``rank`` singular triplets of the distributed matrix ``A`` (``matrix``), with
    ``transposed`` holding ``Aᵀ``.

    ``2 · power_iterations + 2`` passes over ``A``. With ``rank + oversample ≥ min(shape)`` the
    result is exact up to rounding.

    Returns:
        ``U (n_rows, rank) float64``, ``S (rank,) float64`` descending,
        ``Vt (rank, n_cols) float64``; signs fixed so that each column of ``U`` has its largest
        absolute entry positive (deterministic output).
    """
    n_rows, n_cols = matrix.shape
    if transposed.shape != (n_cols, n_rows):
        raise ValueError(f"transposed has shape {transposed.shape}, expected {(n_cols, n_rows)}")
    width = min(rank + oversample, n_rows, n_cols)
    rng = np.random.default_rng(seed)
    test_matrix = rng.standard_normal((n_cols, width))
    # Orthonormalising after every product keeps the small singular directions from being
    # drowned in rounding error by the power iterations.
    basis, _ = np.linalg.qr(matrix.multiply(test_matrix))
    for step in range(power_iterations):
        co_basis, _ = np.linalg.qr(transposed.multiply(basis))
        basis, _ = np.linalg.qr(matrix.multiply(co_basis))
        log.info("svd: power iteration %d/%d", step + 1, power_iterations)
    projected = transposed.multiply(basis).T  # (width, n_cols) = basisᵀ A
    small_u, singular, vt = np.linalg.svd(projected, full_matrices=False)
    u = basis @ small_u[:, :rank]
    singular, vt = singular[:rank], vt[:rank]
    signs = np.sign(u[np.argmax(np.abs(u), axis=0), np.arange(u.shape[1])])
    signs[signs == 0] = 1.0
    return u * signs, singular, vt * signs[:, None]


def word_vectors(u: np.ndarray, singular: np.ndarray, eigenvalue_weight: float) -> np.ndarray:
    """``U · Σ^p`` as ``(vocab, rank) float32`` (p = 0.5 by Levy et al. 2015; 0 uses U alone)."""
    return (u * np.power(singular, eigenvalue_weight)[None, :]).astype(np.float32)
