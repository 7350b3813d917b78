"""Stage 4: encoded documents → the packed corpus the trainers read, cached on the executors.

Each training partition's documents, in a fixed order, become ``(ids, offsets)`` records of
bounded size (:mod:`w2v_spark.corpus.packed`). The records are a DataFrame (``ids binary,
offsets binary``, one row per record), persisted on the executors' disks, so that the same
cached corpus serves a classic session and a Spark Connect session. A task that trains reads its
partition's records in order (:func:`partition_records`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from w2v_spark.corpus.encode import batch_encoder, encode
from w2v_spark.corpus.packed import pack_records

#: One row per record: the raw bytes of its ``int32`` ids and ``int64`` document offsets.
PACKED_SCHEMA = "ids binary, offsets binary"
_PACKED = pa.schema([("ids", pa.binary()), ("offsets", pa.binary())])

#: The session setting under which a task reads a DataFrame of large binary rows through
#: ``mapInArrow`` (the packed corpus's records, ≤ 16 MB each; the SVD's blocks): one row per
#: Arrow batch. Spark's default, 10,000 rows, hands a whole partition over at once, and the
#: binary column of a partition over 2 GB overflows Arrow's 32-bit offsets.
ONE_ROW_PER_BATCH = {"spark.sql.execution.arrow.maxRecordsPerBatch": "1"}


class _Rows:
    """The rows of Arrow batches of ``PACKED_SCHEMA`` as :func:`pack_records` reads them
    (``ids`` and ``offsets`` attributes), without copying their bytes."""

    __slots__ = ("ids", "offsets")

    @staticmethod
    def of(batches: Iterator[pa.RecordBatch]) -> Iterator[_Rows]:
        for batch in batches:
            ids, offsets = batch.column("ids"), batch.column("offsets")
            for k in range(batch.num_rows):
                row = _Rows()
                row.ids, row.offsets = ids[k].as_buffer(), offsets[k].as_buffer()
                yield row


def _pack_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[_Rows]:
    """``(doc_id, ids list<int32>)`` Arrow batches → one row of raw ``int32`` ids and ``int64``
    document offsets per batch."""
    for batch in batches:
        lists = batch.column("ids")
        values = lists.flatten().to_numpy().astype(np.int32, copy=False)
        raw_offsets = lists.offsets.to_numpy().astype(np.int64)
        row = _Rows()
        row.ids, row.offsets = values.tobytes(), (raw_offsets - raw_offsets[0]).tobytes()
        yield row


def _as_records(rows: Iterator[_Rows]) -> Iterator[pa.RecordBatch]:
    """A partition's rows → its records (:func:`pack_records`), one Arrow row each."""
    for ids, offsets in pack_records(rows):
        yield pa.RecordBatch.from_pydict({"ids": [ids.tobytes()], "offsets": [offsets.tobytes()]},
                                         schema=_PACKED)


def partition_records(batches: Iterator[pa.RecordBatch]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """A partition of :attr:`PackedCorpus.frame`, as ``mapInArrow`` hands it over → its
    ``(ids (n,) int32, offsets (documents + 1,) int64)`` records in order."""
    for row in _Rows.of(batches):
        yield _arrays(row)


def _arrays(row) -> tuple[np.ndarray, np.ndarray]:
    # Copies, which the kernels may take as they take any array (a read-only view is another
    # type to numba: another compilation).
    return (np.frombuffer(row.ids, dtype=np.int32).copy(),
            np.frombuffer(row.offsets, dtype=np.int64).copy())


def spread_documents(documents: DataFrame, partitions: int) -> DataFrame:
    """The layout :func:`pack_corpus` trains on: documents hash-partitioned by ``doc_id`` into
    ``partitions`` (so each partition sees the whole corpus's mix of topics), in ``doc_id`` order
    within a partition — a function of the documents alone, since ``doc_id`` hashes their tokens
    (:func:`~w2v_spark.corpus.tokenize.split_long_documents`). Any DataFrame with a ``doc_id``
    column and a ``tokens`` or ``ids`` column, which orders documents that share a ``doc_id``
    (equal ones, or a 64-bit hash collision)."""
    content = "tokens" if "tokens" in documents.columns else "ids"
    return documents.repartition(partitions, "doc_id").sortWithinPartitions("doc_id", content)


class PackedCorpus:
    """The packed corpus: ``frame`` (``PACKED_SCHEMA``, ``partitions`` partitions, each a
    partition's records in order) persisted on the executors' disks. :meth:`unpersist` releases
    it."""

    def __init__(self, frame: DataFrame, partitions: int):
        self.frame, self.partitions = frame, partitions

    def sizes(self) -> tuple[int, int]:
        """``(tokens, documents)`` over all partitions (one job, which also fills the cache).
        Checks that there are ``partitions`` partitions: every partition has a record, an
        empty one too."""
        row = self.frame.select(
            F.length("ids").alias("id_bytes"), F.length("offsets").alias("offset_bytes"),
            F.spark_partition_id().alias("partition"),
        ).agg(F.sum("id_bytes").alias("id_bytes"), F.sum("offset_bytes").alias("offset_bytes"),
              F.count("*").alias("records"), F.max("partition").alias("last")).first()
        if row["last"] is None or row["last"] + 1 != self.partitions:
            found = 0 if row["last"] is None else row["last"] + 1
            raise ValueError(f"pack_corpus: expected {self.partitions} partitions, got {found}")
        return int(row["id_bytes"] or 0) // 4, int(row["offset_bytes"] or 0) // 8 - row["records"]

    def collect(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Every record, in partition order (on the driver: small corpora and tests only)."""
        table = self.frame.toArrow()
        return list(partition_records(iter(table.to_batches())))

    def unpersist(self) -> None:
        self.frame.unpersist()


def pack_corpus(documents: DataFrame, words: Sequence[str] | pa.StringArray, partitions: int, *,
                spread: bool = False) -> PackedCorpus:
    """Encode tokenized ``documents`` (``schemas.TOKENS``) with the vocabulary ``words`` (in id
    order) and pack each partition of :func:`spread_documents`'s layout into ``(ids, offsets)``
    records, each of about :data:`~w2v_spark.corpus.packed.RECORD_TOKENS` tokens (whole
    documents, in order), persisted on disk (the caller unpersists it).

    With ``spread``, ``documents`` are already in that layout for ``partitions`` (encoding keeps
    the order and drops only whole documents): one Arrow pass per partition encodes and packs,
    with no shuffle. Otherwise the encoded documents (smaller than their tokens) are spread first.
    Both give the same records.
    """
    if spread:
        # One Python worker per task instead of a chain of two, and one trip of the corpus
        # between the JVM and Python fewer (bench-en, cold: 5.1-5.5 s → 4.0-4.2 s).
        encode_batches = batch_encoder(words)

        def encode_and_pack(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            return _as_records(_pack_batches(encode_batches(batches)))

        packed = documents.select("doc_id", "tokens").mapInArrow(encode_and_pack, PACKED_SCHEMA)
    else:
        packed = spread_documents(documents.transform(encode, words=words), partitions) \
            .mapInArrow(lambda batches: _as_records(_pack_batches(batches)), PACKED_SCHEMA)
    # On disk only: held in the JVM's memory, the records of a 300 M-word corpus (650 MB per
    # partition, 16 MB each) exhausted a 1 GB heap; every epoch reads them back from the local
    # disk (and the OS's page cache). Writing the cache does not gather a partition either:
    # Spark closes a cached batch once it holds 4 MB, so every record is a batch of its own.
    return PackedCorpus(packed.persist(StorageLevel.DISK_ONLY), partitions)
