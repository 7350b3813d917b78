"""A user's script: ``Word2VecModel.transform`` with a model too large to travel inside its
function over Spark Connect (over ``w2v_spark.ml.CONNECT_TRANSFORM_BYTES``).

Run as a script it transforms over Spark Connect (``python large_model_script.py sc://HOST:PORT
OUT``); ``tests/connect/test_connect.py`` imports :func:`averaged` to run the same code in its
classic session, and compares with what the script wrote to ``OUT``.
"""

import json
import sys

import numpy as np
from pyspark.sql import SparkSession

from w2v_spark.ml import CONNECT_TRANSFORM_BYTES, Word2VecModel

DIMENSIONS = 100
#: Just over the bound: 52 MB of float32 vectors.
WORDS = CONNECT_TRANSFORM_BYTES // (DIMENSIONS * 4) + 5_000


def averaged(spark: SparkSession) -> list[tuple[int, list[float]]]:
    """``(id, averaged vector)`` of 200 rows of up to 8 words (some unknown), as collected."""
    rng = np.random.default_rng(8)
    model = Word2VecModel([f"w{i}" for i in range(WORDS)], np.arange(WORDS, 0, -1),
                          rng.standard_normal((WORDS, DIMENSIONS)).astype(np.float32))
    model.setInputCol("words").setOutputCol("features")
    texts = [(i, [f"w{j}" for j in rng.integers(0, WORDS + 20, size=i % 9)]) for i in range(200)]
    frame = spark.createDataFrame(texts, "id int, words array<string>")
    return [(row["id"], row["features"].toArray().tolist())
            for row in model.transform(frame).collect()]


if __name__ == "__main__":
    session = SparkSession.builder.remote(sys.argv[1]).getOrCreate()
    with open(f"{sys.argv[2]}/averaged.json", "w", encoding="utf-8") as file:
        json.dump(averaged(session), file)
    session.stop()
