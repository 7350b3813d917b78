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
and never a ``vocab × vocab`` one; its JVM passes each task's rows on as they arrive.

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

#: About how many bytes one block of rows stands for: its entries in CSR (12 bytes each) and its
#: rows of a product (8 bytes × the dense factor's columns each). The matrix is cut into ranges of
#: consecutive rows of about equal bytes (:func:`row_ranges`), so that no Python worker or JVM task
#: handles a larger piece, whatever the matrix. Ranges of equal height would not do: the rows are
#: words by descending frequency, and the first rows hold most of the entries; ranges of equal
#: entries would not either: the last ones would hold most of the rows, and a task's product
#: reaches the driver's JVM whole.
BLOCK_BYTES = 16 << 20

#: Bytes of one entry of a CSR block (``int32`` column, ``float64`` value) and of one element of a
#: product (``float64``).
ENTRY_BYTES, PRODUCT_BYTES = 12, 8

#: Most elements of one piece of a product on its way to the driver (16 MB of float64).
GATHER_ELEMENTS = 1 << 21


def row_ranges(row_entries: np.ndarray, width: int, at_least: int,
               block_bytes: int = BLOCK_BYTES) -> np.ndarray:
    """``(blocks + 1,) int64`` first rows of consecutive ranges of about equal bytes that cover
    the rows (range ``b`` is ``[bounds[b], bounds[b + 1])``): ``row_entries`` ``(n_rows,)`` is
    the number of entries of each row, ``width`` the columns of the dense matrices the blocks will
    be multiplied with. ``max(at_least, ceil(bytes / block_bytes))`` ranges (fewer where a single
    row outweighs a range's share, and at most one per row), each of at most its share of the
    bytes plus one row's."""
    n_rows = row_entries.shape[0]
    weight = row_entries.astype(np.float64) * ENTRY_BYTES + float(width * PRODUCT_BYTES)
    total = float(weight.sum())
    blocks = max(1, min(n_rows, max(at_least, -(-int(total) // block_bytes))))
    before = np.cumsum(weight) - weight  # the bytes of the rows above each row
    share = np.minimum(np.floor(before * blocks / total).astype(np.int64), blocks - 1)
    starts = np.flatnonzero(np.r_[True, np.diff(share) > 0])
    return np.r_[starts, n_rows].astype(np.int64)


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
        """``self @ dense``, ``(n_rows, k) float64``: one Spark job, whose tasks' rows reach the
        driver as they finish, as Arrow batches of at most ``piece_elements`` (``toArrow``).

        Not ``toLocalIterator``, which would hold one task's rows at a time: in a classic
        session (Spark 4.3) the driver's JVM keeps every call's rows alive after it (measured:
        + 88 MB of live heap per call that served 88 MB), and the ten products of a 30 M-word
        corpus's PPMI matrix (68,579 × 160 float64 each) exhausted a 1 GB heap."""
        spark = self.frame.sparkSession
        shared = Shared(spark, dense, self.work)
        product = np.zeros((self.shape[0], dense.shape[1]))
        try:
            pieces = self.frame.mapInArrow(functools.partial(
                _products, shared=shared, n_cols=self.shape[1], piece_elements=piece_elements),
                _PIECES)
            with lent_settings(spark, ONE_ROW_PER_BATCH):
                table = pieces.toArrow()
        finally:
            shared.destroy()
        for batch in table.to_batches():
            for start, rows in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(),
                                   strict=True):
                rows = np.frombuffer(rows, np.float64).reshape(-1, dense.shape[1])
                product[start : start + rows.shape[0]] = rows
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


def sparse_blocks(entries: DataFrame, shape: tuple[int, int], partitions: int, *, width: int,
                  block_bytes: int = BLOCK_BYTES, work: str | None = None) -> RowBlocks:
    """The matrix with the given ``(row, column, value)`` entries (first three columns, no
    duplicates) as :class:`RowBlocks` for products with dense matrices of ``width`` columns: CSR
    blocks of consecutive rows of about ``block_bytes`` each (:func:`row_ranges`, at least
    ``partitions`` of them). Counts each row's entries (a table of ``n_rows`` on the driver).
    Persisted on disk; the caller unpersists. For ``Aᵀ`` pass the columns first and the shape
    swapped. ``work``: see :class:`RowBlocks`."""
    n_rows, n_cols = shape
    names = entries.columns[:3]
    counted = entries.groupBy(F.col(names[0]).cast("int").alias("row")).count().toArrow()
    row_entries = np.zeros(n_rows, dtype=np.int64)
    row_entries[counted.column("row").to_numpy()] = counted.column("count").to_numpy()
    bounds = row_ranges(row_entries, width, partitions, block_bytes)
    blocks = len(bounds) - 1
    # Each row's range, joined to its entries: a table of n_rows, like the vocabulary, spelled
    # out from the ranges' bounds by the executors (sent whole, it would be a large task).
    ranges = entries.sparkSession.createDataFrame(
        [(b, int(bounds[b]), int(bounds[b + 1]) - 1) for b in range(blocks)],
        "bucket int, first int, last int",
    ).select("bucket", F.explode(F.sequence("first", "last")).alias("row"))
    keyed = entries.select(F.col(names[0]).cast("int").alias("row"),
                           F.col(names[1]).cast("int").alias("col"),
                           F.col(names[2]).cast("double").alias("value")) \
        .join(F.broadcast(ranges), "row").select("bucket", "row", "col", "value")
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


def factor_width(shape: tuple[int, int], rank: int, oversample: int) -> int:
    """Columns of the dense factors :func:`randomized_svd` multiplies the matrix with."""
    return min(rank + oversample, *shape)


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
    width = factor_width(matrix.shape, rank, oversample)
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
