"""A user's script: ``pyspark.ml.Pipeline`` with ``w2v_spark.ml.Word2Vec`` over the demo corpus.

Run as a script it trains over Spark Connect (``python pipeline_script.py sc://HOST:PORT OUT``);
``tests/connect/test_connect.py`` imports :func:`results` to run the same code in its classic
session, and compares what both wrote to ``OUT/result.json``.
"""

import json
import sys

from pyspark.ml import Pipeline
from pyspark.ml.feature import Tokenizer
from pyspark.sql import SparkSession

from w2v_spark.cli import demo_corpus_path
from w2v_spark.ml import Word2Vec, Word2VecModel


def results(spark: SparkSession, out: str, single: bool = False) -> dict:
    """Fit with two partitions (and, with ``single``, one); per fit the vectors, three rows'
    transform, the synonyms of "god", and the vectors of the model saved (twice, with
    overwrite) and loaded."""
    frame = spark.read.text(demo_corpus_path()).withColumnRenamed("value", "text")
    found = {"connect": type(spark).__module__.startswith("pyspark.sql.connect")}
    for partitions in (1, 2) if single else (2,):
        pipeline = Pipeline(stages=[Tokenizer(inputCol="text", outputCol="words"),
                                    Word2Vec(inputCol="words", outputCol="vector", vectorSize=8,
                                             minCount=5, seed=11, numPartitions=partitions)])
        model = pipeline.fit(frame)
        w2v = model.stages[-1]
        path = f"{out}/model-{partitions}"
        w2v.write().overwrite().save(path)
        w2v.write().overwrite().save(path)  # a second time: overwrite works here too
        rows = model.transform(frame).where("text != ''").orderBy("text").limit(3).collect()
        found[str(partitions)] = {
            "vectors": {row["word"]: row["vector"].toArray().tolist()
                        for row in w2v.getVectors().collect()},
            "averaged": [row["vector"].toArray().tolist() for row in rows],
            "synonyms": [word for word, _ in w2v.findSynonymsArray("god", 3)],
            "loaded": {row["word"]: row["vector"].toArray().tolist()
                       for row in Word2VecModel.load(path).getVectors().collect()},
        }
    with open(f"{out}/result.json", "w", encoding="utf-8") as file:
        json.dump(found, file)
    return found


if __name__ == "__main__":
    session = SparkSession.builder.remote(sys.argv[1]).getOrCreate()
    results(session, sys.argv[2])
    session.stop()
