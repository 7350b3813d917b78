"""Schemas of every stage's output: the contract readers of the Parquet files rely on."""

import pyarrow as pa
from pyspark.sql.types import (
    ArrayType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)

#: ``tokenize``: one row per document (a line, or a slice of an over-long line); ``doc_id`` is
#: a hash of the tokens (:func:`w2v_spark.corpus.tokenize.split_long_documents`).
TOKENS = StructType(
    [
        StructField("doc_id", LongType(), nullable=False),
        StructField("tokens", ArrayType(StringType(), containsNull=False), nullable=False),
    ]
)

#: ``count_words`` / ``build_vocab``: ids 0..V-1 by descending count, then word.
VOCAB = StructType(
    [
        StructField("id", IntegerType(), nullable=False),
        StructField("word", StringType(), nullable=False),
        StructField("count", LongType(), nullable=False),
        StructField("keep_probability", DoubleType(), nullable=False),
    ]
)

#: ``encode``: word ids of in-vocabulary tokens, in document order.
ENCODED = StructType(
    [
        StructField("doc_id", LongType(), nullable=False),
        StructField("ids", ArrayType(IntegerType(), containsNull=False), nullable=False),
    ]
)

#: ``embeddings/`` Parquet, ordered by descending count (the row order *is* the id order).
EMBEDDINGS = StructType(
    [
        StructField("word", StringType(), nullable=False),
        StructField("id", IntegerType(), nullable=False),
        StructField("count", LongType(), nullable=False),
        StructField("vector", ArrayType(FloatType(), containsNull=False), nullable=False),
    ]
)

#: ``cooccurrence/`` Parquet: weighted counts of word–context pairs within the window (symmetric).
COOCCURRENCE = StructType(
    [
        StructField("word_id", IntegerType(), nullable=False),
        StructField("context_id", IntegerType(), nullable=False),
        StructField("count", DoubleType(), nullable=False),
    ]
)

#: ``ppmi/`` Parquet: the positive entries of the PMI matrix (natural log).
PPMI = StructType(
    [
        StructField("word_id", IntegerType(), nullable=False),
        StructField("context_id", IntegerType(), nullable=False),
        StructField("ppmi", DoubleType(), nullable=False),
    ]
)

#: ``neighbors/`` Parquet: one row per (word, neighbour), rank 1 = closest.
NEIGHBORS = StructType(
    [
        StructField("word", StringType(), nullable=False),
        StructField("neighbor", StringType(), nullable=False),
        StructField("rank", IntegerType(), nullable=False),
        StructField("cosine", FloatType(), nullable=False),
    ]
)


_ARROW_TYPES = {"int": pa.int32(), "bigint": pa.int64(), "string": pa.string(),
                "double": pa.float64(), "float": pa.float32()}


def arrow_schema(schema: StructType) -> pa.Schema:
    """``schema`` as Arrow's, nullability included (a non-nullable field is ``required`` in the
    Parquet files the driver writes with it)."""
    def arrow_type(kind):
        if isinstance(kind, ArrayType):
            element = pa.field("element", arrow_type(kind.elementType), nullable=kind.containsNull)
            return pa.list_(element)
        return _ARROW_TYPES[kind.simpleString()]

    return pa.schema([pa.field(f.name, arrow_type(f.dataType), nullable=f.nullable)
                      for f in schema.fields])
