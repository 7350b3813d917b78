"""w2v_spark: word embeddings (skip-gram with negative sampling) from raw text on Apache Spark."""

__all__ = ["Embeddings"]
__version__ = "0.1.0"


def __getattr__(name: str):
    # Embeddings (and with it PyArrow's Parquet and pyspark.sql) is imported on first use: every
    # Python worker imports this package to run a stage's function, and none of them needs it
    # (60-80 ms of each worker's start).
    if name == "Embeddings":
        from w2v_spark.vectors.embeddings import Embeddings

        return Embeddings
    raise AttributeError(f"module 'w2v_spark' has no attribute {name!r}")
