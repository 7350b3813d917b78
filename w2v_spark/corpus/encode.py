"""Stage 3: token arrays → word-id arrays, out-of-vocabulary tokens dropped.

Runs as Arrow batches (``mapInArrow`` + ``pyarrow.compute.index_in``): a hash lookup per token in
columnar memory, with no per-row Python objects and no shuffle.
"""

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame

from w2v_spark.schemas import ENCODED


def encode_batch(batch: pa.RecordBatch, lookup: pc.SetLookupOptions) -> pa.RecordBatch:
    """Encode one Arrow batch of ``(doc_id int64, tokens list<string>)``; documents left without
    any in-vocabulary token are dropped."""
    tokens = batch.column("tokens")
    ids = pc.index_in(tokens.flatten(), options=lookup)  # int32, null when out of vocabulary
    known = ids.is_valid().to_numpy(zero_copy_only=False)
    parent = tokens.value_parent_indices().to_numpy()
    per_doc = np.bincount(parent[known], minlength=len(batch))
    offsets = np.concatenate(([0], np.cumsum(per_doc))).astype(np.int32)
    encoded = pa.ListArray.from_arrays(pa.array(offsets), ids.filter(pa.array(known)))
    nonempty = pa.array(per_doc > 0)
    return pa.RecordBatch.from_arrays(
        [batch.column("doc_id").filter(nonempty), encoded.filter(nonempty)],
        schema=pa.schema(
            [pa.field("doc_id", pa.int64(), nullable=False),
             pa.field("ids", pa.list_(pa.field("element", pa.int32(), nullable=False)), nullable=False)]
        ),
    )


def encode(documents: DataFrame, *, words: Sequence[str] | pa.StringArray) -> DataFrame:
    """Replace every token by its id, the position of the word in ``words`` (the vocabulary in id
    order: Python strings or an Arrow array of them); drop tokens not in ``words``.

    Input: ``schemas.TOKENS`` (``doc_id long, tokens array<string>``).
    Output schema (``schemas.ENCODED``)::

        doc_id  long        as in the input
        ids     array<int>  non-empty, in token order
    """
    return documents.select("doc_id", "tokens").mapInArrow(batch_encoder(words), ENCODED)


def batch_encoder(words: Sequence[str] | pa.StringArray) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The function :func:`encode` maps over a partition's Arrow batches (``schemas.TOKENS`` in,
    ``schemas.ENCODED`` out), for callers that fuse it with the next step in one Python pass."""
    # An Arrow array pickles as its buffers (1 M words: ≈ 12 MB), a list as 1 M objects.
    vocabulary = words if isinstance(words, pa.Array) else pa.array(list(words), type=pa.string())

    def encode_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        lookup = pc.SetLookupOptions(value_set=vocabulary)
        for batch in batches:
            yield encode_batch(batch, lookup)

    return encode_batches
