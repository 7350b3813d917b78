"""w2v_spark: word embeddings (skip-gram with negative sampling) from raw text on Apache Spark."""

from w2v_spark.embeddings import Embeddings

__all__ = ["Embeddings"]
__version__ = "0.1.0"
