"""The packed corpus: a training partition's documents as ``(ids, offsets)`` records.

``ids`` is ``(n,) int32``, the in-vocabulary word ids of whole documents one after the other;
``offsets`` is ``(documents + 1,) int64``, where document ``k`` is ``ids[offsets[k]:offsets[k + 1]]``.
:func:`w2v_spark.corpus.pack.pack_corpus` caches a partition as a sequence of such records, of bounded
size; the training tasks read them in order. NumPy only (no Spark), so it tests without a JVM.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

#: Largest run of in-vocabulary tokens packed into one cached record (16 MB of ids). A partition
#: of the packed corpus is a sequence of such records, so no task, Python worker or JVM holds
#: more than a few of them at once however large the corpus: one record per partition (as
#: before) pickled a 600 MB array into a single JVM byte array at 300 M words on 2 partitions.
#: Corpora of fewer than this many tokens per partition (bench-en: 2.2 M) keep one record each.
RECORD_TOKENS = 1 << 22


def pack_records(rows, record_tokens: int = RECORD_TOKENS) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """A partition's packed rows → consecutive ``(ids, offsets)`` records of at least
    ``record_tokens`` tokens each, the last one smaller (an empty partition gives one empty
    record). Documents are never split across records, so a record holds fewer than
    ``record_tokens`` plus one row's tokens.

    ``rows``: objects with ``ids`` and ``offsets`` attributes, the raw little-endian bytes of an
    int32 and an int64 array (one Arrow batch of whole documents each, from ``pack_corpus``)."""
    id_parts, offset_parts, base, emitted = [], [np.zeros(1, dtype=np.int64)], 0, False
    for row in rows:
        ids = np.frombuffer(row.ids, dtype=np.int32)
        offsets = np.frombuffer(row.offsets, dtype=np.int64)
        id_parts.append(ids)
        offset_parts.append(offsets[1:] + base)
        base += ids.shape[0]
        if base >= record_tokens:
            yield np.concatenate(id_parts), np.concatenate(offset_parts)
            id_parts, offset_parts, base, emitted = [], [np.zeros(1, dtype=np.int64)], 0, True
    if id_parts or not emitted:
        ids = np.concatenate(id_parts) if id_parts else np.zeros(0, dtype=np.int32)
        yield ids, np.concatenate(offset_parts)


def join_records(records: Iterable[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """A partition's ``(ids, offsets)`` records (:func:`pack_records`) as one pair of arrays,
    documents in record order (the only record itself when there is one)."""
    records = list(records)
    if len(records) == 1:
        return records[0]
    id_parts, offset_parts, base = [], [np.zeros(1, dtype=np.int64)], 0
    for ids, offsets in records:
        id_parts.append(ids)
        offset_parts.append(offsets[1:] - offsets[0] + base)
        base += ids.shape[0]
    ids = np.concatenate(id_parts) if id_parts else np.zeros(0, dtype=np.int32)
    return ids, np.concatenate(offset_parts)
