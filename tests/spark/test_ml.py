"""w2v_spark.ml.Word2Vec in a pyspark.ml Pipeline, next to MLlib's class with only the import
changed."""

import importlib

import numpy as np
import pytest
from pyspark.errors import IllegalArgumentException
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import RegexTokenizer
from pyspark.sql import functions as F

from tests.corpus import TOPICS, topic_separation

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def sentences(spark, topic_corpus):
    return spark.read.text(topic_corpus).withColumnRenamed("value", "text")


def _pipeline(module: str):
    Word2Vec = importlib.import_module(module).Word2Vec  # the only difference between the two
    return Pipeline(stages=[
        RegexTokenizer(inputCol="text", outputCol="words", pattern="\\W+"),
        Word2Vec(vectorSize=16, minCount=2, maxIter=10, windowSize=3, seed=7, numPartitions=2,
                 inputCol="words", outputCol="features"),
    ])


@pytest.fixture(scope="module")
def fitted(sentences):
    return {module: _pipeline(module).fit(sentences)
            for module in ("pyspark.ml.feature", "w2v_spark.ml")}


def test_same_pipeline_same_outputs_and_schemas(sentences, fitted):
    mllib, ours = fitted["pyspark.ml.feature"], fitted["w2v_spark.ml"]
    theirs_out, ours_out = mllib.transform(sentences), ours.transform(sentences)
    assert ours_out.schema == theirs_out.schema  # features: ML vector, like MLlib
    mllib_model, our_model = mllib.stages[-1], ours.stages[-1]
    assert our_model.getVectors().schema == mllib_model.getVectors().schema
    assert our_model.getVectors().count() == mllib_model.getVectors().count() == 31
    assert our_model.findSynonyms("cat", 3).schema == mllib_model.findSynonyms("cat", 3).schema
    assert [w for w, _ in our_model.findSynonymsArray("cat", 3)][0] in TOPICS["animals"]
    assert our_model.getVectorSize() == 16 and our_model.getOutputCol() == "features"


def test_transform_is_the_mean_of_word_vectors_like_mllib(sentences, fitted):
    model = fitted["w2v_spark.ml"].stages[-1]
    row = fitted["w2v_spark.ml"].transform(sentences).first()
    vectors = {r.word: r.vector.toArray() for r in model.getVectors().collect()}
    expected = sum(vectors[w] for w in row.words if w in vectors) / len(row.words)
    assert np.allclose(row.features.toArray(), expected, atol=1e-6)


def test_vectors_learn_the_topics(fitted):
    same, cross = topic_separation(fitted["w2v_spark.ml"].stages[-1].embeddings)
    # Measured: same-topic 0.9987, cross-topic 0.265 (with maxIter 3 instead of 10, subsampling
    # on this 31-word vocabulary leaves too little training: cross-topic 0.967).
    assert same > 0.9 and cross < 0.5, (same, cross)


def test_save_and_load_round_trip(fitted, sentences, tmp_path):
    """Our PipelineModel.load gives our model back, bit for bit, extras and counts included;
    pyspark's gives MLlib's model, with our vectors."""
    from w2v_spark.ml import PipelineModel as OurPipelineModel
    from w2v_spark.ml import Word2VecModel

    ours = fitted["w2v_spark.ml"]
    ours.stages[-1].set(ours.stages[-1].negative, 4)
    ours.write().save(str(tmp_path / "pipeline"))
    loaded = OurPipelineModel.load(str(tmp_path / "pipeline"))
    model = loaded.stages[-1]
    assert isinstance(model, Word2VecModel) and model.uid == ours.stages[-1].uid
    assert model.getVectorSize() == 16 and model.getOrDefault("negative") == 4
    assert model.embeddings.words == ours.stages[-1].embeddings.words
    assert np.array_equal(model.embeddings.counts, ours.stages[-1].embeddings.counts)
    before = ours.transform(sentences).select("features").collect()
    assert loaded.transform(sentences).select("features").collect() == before
    # pyspark's own loader reads the stage as MLlib's model: the same vectors.
    from pyspark.ml.feature import Word2VecModel as MLlibModel

    mllib = PipelineModel.load(str(tmp_path / "pipeline")).stages[-1]
    assert isinstance(mllib, MLlibModel)
    theirs = {r.word: r.vector.toArray() for r in mllib.getVectors().collect()}
    for word, vector in zip(model.embeddings.words, model.embeddings.vectors):
        assert np.array_equal(theirs[word].astype(np.float32), vector)
    estimator = _pipeline("w2v_spark.ml")
    estimator.write().save(str(tmp_path / "estimator"))
    assert Pipeline.load(str(tmp_path / "estimator")).getStages()[-1].getMinCount() == 2


def test_cbow_through_the_estimator(sentences):
    from w2v_spark.ml import Word2Vec

    words = RegexTokenizer(inputCol="text", outputCol="words", pattern="\\W+").transform(sentences)
    model = Word2Vec(vectorSize=16, minCount=2, maxIter=5, windowSize=3, seed=7, numPartitions=2,
                     sample=0.0, model="cbow", inputCol="words", outputCol="features").fit(words)
    same, cross = topic_separation(model.embeddings)
    # Measured: same-topic 0.9994, cross-topic 0.137 (averaging 2 partitions).
    assert same > 0.9 and cross < 0.5, (same, cross)


@pytest.mark.parametrize("module", ["pyspark.ml.feature", "w2v_spark.ml"])
def test_model_api_as_mllib_has_it(sentences, fitted, module):
    """What both classes do alike (asserted on MLlib's too, so a test that MLlib would fail
    cannot creep in): the model's uid is its estimator's, it takes setInputCol / setOutputCol,
    and findSynonyms takes a vector, the nearest word to a word's own vector being that word."""
    estimator = fitted[module].stages[-1]
    Word2Vec = importlib.import_module(module).Word2Vec
    words = sentences.select(F.split(F.lower("text"), "\\W+").alias("words"))
    est = Word2Vec(vectorSize=8, minCount=2, maxIter=2, seed=3, inputCol="words")
    model = est.fit(words)
    assert model.uid == est.uid
    model.setInputCol("words").setOutputCol("vec")
    assert model.transform(words).columns == ["words", "vec"]
    cat = estimator.getVectors().where("word = 'cat'").first().vector
    nearest = estimator.findSynonymsArray(cat, 3)
    assert nearest[0][0] == "cat" and abs(nearest[0][1] - 1.0) < 1e-5
    assert [w for w, _ in nearest] == [r.word for r in estimator.findSynonyms(cat, 3).collect()]


@pytest.mark.parametrize("module", ["pyspark.ml.feature", "w2v_spark.ml"])
def test_bad_input_columns_fail_as_in_mllib(spark, module):
    Word2Vec = importlib.import_module(module).Word2Vec
    texts = spark.createDataFrame([("a b",)], ["s"])
    with pytest.raises(IllegalArgumentException, match="No such struct field `nope` in `s`"):
        Word2Vec(inputCol="nope", minCount=1).fit(texts)
    with pytest.raises(IllegalArgumentException,
                       match="Column s must be of type equal to one of the following types: "
                             r"\[array<string>, array<string>\] but was actually of type string"):
        Word2Vec(inputCol="s", minCount=1).fit(texts)


def test_vectors_from_another_thread(fitted):
    """getVectors / findSynonyms use the model's session, not the calling thread's."""
    import threading

    model, found = fitted["w2v_spark.ml"].stages[-1], {}

    def query():
        found["vectors"] = model.getVectors().count()
        found["synonyms"] = model.findSynonyms("cat", 2).count()

    thread = threading.Thread(target=query)
    thread.start()
    thread.join()
    assert found == {"vectors": 31, "synonyms": 2}


def test_the_join_average_has_the_bits_of_the_function_and_keeps_the_rows(spark):
    # What transform runs over Spark Connect for a model too large to travel in its function:
    # here on a small model, against the function's result, with the cases the function has —
    # unknown words (they count in the division), a repeated word, an empty and a null row —
    # and another column that must stay beside its row, in the input's order.
    from w2v_spark.ml import Word2VecModel, average_by_join

    rng = np.random.default_rng(5)
    words = [f"w{i}" for i in range(50)]
    model = Word2VecModel(words, np.arange(50, 0, -1), rng.standard_normal((50, 6)).astype(np.float32))
    model.setInputCol("words").setOutputCol("features")
    texts = [(i, [str(rng.choice(words + ["unknown"])) for _ in range(i % 7)]) for i in range(60)]
    texts += [(60, ["w3", "w3", "w3"]), (61, None)]
    frame = spark.createDataFrame(texts, "id int, words array<string>").repartition(3, "id")
    expected = model.transform(frame).collect()
    joined = average_by_join(frame, model._vectors_frame(), "words", "features", 6,
                             {"ml_attr": {"num_attrs": 6}})
    found = joined.collect()
    assert joined.columns == ["id", "words", "features"]
    assert [row["id"] for row in found] == [row["id"] for row in expected]  # the same order
    assert [row["words"] for row in found] == [row["words"] for row in expected]
    for mine, theirs in zip(found, expected, strict=True):
        assert mine["features"].toArray().tobytes() == theirs["features"].toArray().tobytes()
    # 52 of the 62 rows have a known word (counted from the seed): not all zeros.
    assert sum(np.abs(row["features"].toArray()).sum() > 0 for row in found) > 40
    assert joined.schema["features"].metadata == {"ml_attr": {"num_attrs": 6}}
