"""w2v_spark.ml against what Spark's own tests of pyspark.ml.feature.Word2Vec check (the class's
doctests and ``test_word2vec``), written anew: the API, errors, Param docs, copies, model files
that cross over to MLlib and back, and a user's script run with the virtualenv's Python.

The trained numbers Spark's tests print are MLlib's; ours are checked by type, shape and order
(nearest first)."""

import importlib
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pyspark.errors import IllegalArgumentException, PySparkKeyError
from pyspark.ml import Pipeline
from pyspark.ml.feature import RegexTokenizer
from pyspark.ml.linalg import DenseVector

pytestmark = pytest.mark.spark

MODULES = ["pyspark.ml.feature", "w2v_spark.ml"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ab_sentences(spark):
    """The shape of Spark's own test data: two equal rows, ``a`` beside ``b`` 100 times and
    beside ``c`` 10 times."""
    sentence = ("a b " * 100 + "a c " * 10).split(" ")
    return spark.createDataFrame([(sentence,), (sentence,)], ["sentence"])


@pytest.fixture(scope="module")
def ab_models(ab_sentences):
    fitted = {}
    for module in MODULES:
        estimator = importlib.import_module(module).Word2Vec(
            vectorSize=5, seed=42, inputCol="sentence", outputCol="model")
        fitted[module] = (estimator, estimator.fit(ab_sentences))
    return fitted


@pytest.mark.parametrize("module", MODULES)
def test_estimator_and_model_as_spark_tests_use_them(module, ab_models, ab_sentences, tmp_path):
    Word2Vec = importlib.import_module(module).Word2Vec
    Word2VecModel = importlib.import_module(module).Word2VecModel
    estimator, model = ab_models[module]
    assert estimator.setMaxIter(10) is estimator and estimator.getMaxIter() == 10
    estimator.clear(estimator.maxIter)
    assert estimator.getMaxIter() == 1 and not estimator.isSet(estimator.maxIter)
    assert model.uid == estimator.uid and model.getMinCount() == 5 and model.getSeed() == 42
    assert model.setInputCol("sentence") is model
    assert re.fullmatch(rf"Word2VecModel: uid={estimator.uid}, numWords=3, vectorSize=5",
                        repr(model))
    vectors = model.getVectors()
    assert vectors.columns == ["word", "vector"]
    rows = vectors.collect()
    assert sorted(r.word for r in rows) == ["a", "b", "c"]
    assert all(isinstance(r.vector, DenseVector) and r.vector.size == 5 for r in rows)
    nearest = model.findSynonymsArray("a", 2)
    assert sorted(word for word, _ in nearest) == ["b", "c"]  # the query word itself excluded
    assert all(isinstance(word, str) and isinstance(score, float) for word, score in nearest)
    assert nearest[0][1] >= nearest[1][1]
    table = model.findSynonyms("a", 2)
    assert table.columns == ["word", "similarity"]
    assert [(r.word, r.similarity) for r in table.collect()] == nearest
    transformed = model.transform(ab_sentences)
    assert transformed.columns == ["sentence", "model"] and transformed.count() == 2
    first = transformed.head().model
    assert isinstance(first, DenseVector) and first.size == 5

    estimator.write().overwrite().save(str(tmp_path / "estimator"))
    again = Word2Vec.load(str(tmp_path / "estimator"))
    assert str(again) == str(estimator)
    assert [again.getOrDefault(p) for p in ("vectorSize", "numPartitions", "minCount", "seed")] \
        == [estimator.getOrDefault(p) for p in ("vectorSize", "numPartitions", "minCount", "seed")]
    model.write().overwrite().save(str(tmp_path / "model"))
    loaded = Word2VecModel.load(str(tmp_path / "model"))
    assert str(loaded) == str(model)
    assert loaded.getVectors().first() == model.getVectors().first()
    assert loaded.transform(ab_sentences).take(1) == model.transform(ab_sentences).take(1)


@pytest.mark.parametrize("module", MODULES)
def test_unknown_words_and_counts_fail_with_mllibs_messages(module, ab_models):
    _, model = ab_models[module]
    with pytest.raises(Exception, match="zzz not in vocabulary"):
        model.findSynonymsArray("zzz", 2)
    with pytest.raises(IllegalArgumentException, match="Number of similar words should > 0"):
        model.findSynonyms("a", 0)


def test_an_unknown_word_is_a_key_error(ab_models):
    _, model = ab_models["w2v_spark.ml"]
    with pytest.raises(PySparkKeyError, match="^zzz not in vocabulary$") as raised:
        model.findSynonyms("zzz", 1)
    assert isinstance(raised.value, KeyError)


@pytest.mark.parametrize("module", MODULES)
def test_a_copy_keeps_the_uid_and_vectors_and_takes_new_params(module, ab_models):
    _, model = ab_models[module]
    copy = model.copy({model.outputCol: "other"})
    assert copy.uid == model.uid and copy.getOutputCol() == "other"
    assert model.getOutputCol() == "model"  # the original is untouched
    assert copy.findSynonymsArray("a", 2) == model.findSynonymsArray("a", 2)


def test_params_methods_and_docs_are_mllibs(ab_models):
    """Every public member of MLlib's two classes exists in ours with MLlib's parameters (ours
    may add keyword-only extras at the end); MLlib's Params keep their docs and defaults, so
    explainParams() reads the same, line for line, with our extras documented as extras."""
    mllib, ours = importlib.import_module("pyspark.ml.feature"), importlib.import_module("w2v_spark.ml")
    for name in ("Word2Vec", "Word2VecModel"):
        theirs, mine = getattr(mllib, name), getattr(ours, name)
        for member in (m for m in dir(theirs) if not m.startswith("_")):
            assert hasattr(mine, member), f"{name}.{member}"
            theirs_member, my_member = getattr(theirs, member), getattr(mine, member)
            if inspect.isfunction(theirs_member) or inspect.ismethod(theirs_member):
                expected = list(inspect.signature(theirs_member).parameters.values())
                found = list(inspect.signature(my_member).parameters.values())
                assert [(p.name, p.kind, p.default) for p in found[: len(expected)]] == \
                    [(p.name, p.kind, p.default) for p in expected], f"{name}.{member}"
                assert all(p.kind is p.KEYWORD_ONLY for p in found[len(expected):])
    for module in MODULES:
        estimator, _ = ab_models[module]
        assert estimator.getVectorSize() == 5
    theirs_lines = ab_models["pyspark.ml.feature"][0].explainParams().splitlines()
    our_estimator = ab_models["w2v_spark.ml"][0]
    our_lines = our_estimator.explainParams().splitlines()
    uids = (ab_models["pyspark.ml.feature"][0].uid, our_estimator.uid)
    extras = {"model", "negative", "nsExponent", "sample"}
    assert [line.replace(uids[1], uids[0]) for line in our_lines
            if line.split(":")[0] not in extras] == theirs_lines
    assert all("w2v_spark extra" in line for line in our_lines if line.split(":")[0] in extras)


def _tokens(frame):
    return RegexTokenizer(inputCol="text", outputCol="words", pattern="\\W+").transform(frame)


def test_models_saved_by_mllib_load_into_ours_alone_and_in_a_pipeline(spark, topic_corpus,
                                                                      tmp_path):
    from pyspark.ml.feature import Word2Vec as MLlibWord2Vec

    from w2v_spark.ml import PipelineModel, Word2VecModel

    text = spark.read.text(topic_corpus).withColumnRenamed("value", "text")
    pipeline = Pipeline(stages=[
        RegexTokenizer(inputCol="text", outputCol="words", pattern="\\W+"),
        MLlibWord2Vec(vectorSize=8, minCount=2, seed=5, inputCol="words", outputCol="features"),
    ]).fit(text)
    mllib_model = pipeline.stages[-1]
    mllib_model.write().save(str(tmp_path / "model"))
    pipeline.write().save(str(tmp_path / "pipeline"))

    ours = Word2VecModel.load(str(tmp_path / "model"))
    theirs = {r.word: r.vector.toArray() for r in mllib_model.getVectors().collect()}
    assert sorted(ours.embeddings.words) == sorted(theirs)
    for word, vector in zip(ours.embeddings.words, ours.embeddings.vectors):
        assert np.array_equal(vector, theirs[word].astype(np.float32))
    assert ours.uid == mllib_model.uid and ours.getVectorSize() == 8 and ours.getMinCount() == 2
    assert [w for w, _ in ours.findSynonymsArray("cat", 4)] == \
        [w for w, _ in mllib_model.findSynonymsArray("cat", 4)]

    loaded = PipelineModel.load(str(tmp_path / "pipeline"))
    assert isinstance(loaded.stages[-1], Word2VecModel) and loaded.uid == pipeline.uid
    assert type(loaded.stages[0]) is RegexTokenizer
    ours_rows = loaded.transform(text).select("features").collect()
    # Both average the float32 vectors in float64: measured max difference 2.2e-16.
    theirs_rows = pipeline.transform(text).select("features").collect()
    assert np.allclose([r.features.toArray() for r in ours_rows],
                       [r.features.toArray() for r in theirs_rows], atol=1e-6)


def test_our_models_load_into_mllib_with_the_same_vectors_and_synonyms(spark, topic_corpus,
                                                                        tmp_path):
    from pyspark.ml.feature import Word2VecModel as MLlibModel

    from w2v_spark.ml import Word2Vec

    words = _tokens(spark.read.text(topic_corpus).withColumnRenamed("value", "text"))
    ours = Word2Vec(vectorSize=8, minCount=2, maxIter=3, seed=5, negative=3, sample=0.0,
                    inputCol="words", outputCol="features").fit(words)
    ours.write().save(str(tmp_path / "model"))
    theirs = MLlibModel.load(str(tmp_path / "model"))
    assert theirs.uid == ours.uid and theirs.getVectorSize() == 8
    vectors = {r.word: r.vector.toArray() for r in theirs.getVectors().collect()}
    assert sorted(vectors) == sorted(ours.embeddings.words)
    for word, vector in zip(ours.embeddings.words, ours.embeddings.vectors):
        assert np.array_equal(vectors[word].astype(np.float32), vector)
    # MLlib ranks in float32, we in float64: the same words, scores within float32's precision
    # (measured max difference 1.8e-7; the bound is 1e-5).
    mine, its = ours.findSynonymsArray("dog", 5), theirs.findSynonymsArray("dog", 5)
    assert [w for w, _ in mine] == [w for w, _ in its]
    assert np.allclose([s for _, s in mine], [s for _, s in its], atol=1e-5)


def test_models_saved_before_mllibs_format_still_load(spark, tmp_path):
    """Directories w2v_spark wrote before (our class name, all Params, ``word, id, count,
    vector`` in any file order) keep loading."""
    import json

    from w2v_spark.ml import Word2VecModel
    from w2v_spark.vectors.word2vec_format import embeddings_table

    metadata = {"class": "w2v_spark.ml.Word2VecModel", "timestamp": 0, "sparkVersion": "4.0.0",
                "uid": "Word2Vec_old", "paramMap": {"vectorSize": 2, "negative": 7},
                "defaultParamMap": {"minCount": 5}}
    spark.createDataFrame([(json.dumps(metadata),)], "value string").coalesce(1) \
        .write.text(str(tmp_path / "old" / "metadata"))
    table = embeddings_table(["x", "y", "z"], np.array([9, 5, 2]),
                             np.array([[1, 0], [0, 1], [1, 1]], np.float32))
    spark.createDataFrame(table).orderBy("id", ascending=False).coalesce(1) \
        .write.parquet(str(tmp_path / "old" / "data"))
    model = Word2VecModel.load(str(tmp_path / "old"))
    assert model.embeddings.words == ["x", "y", "z"]
    assert model.getOrDefault("negative") == 7 and model.uid == "Word2Vec_old"
    assert model.findSynonymsArray("x", 1)[0][0] == "z"


def _readme_example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- pipeline-example -->\n```python\n")
    start += len("<!-- pipeline-example -->\n```python\n")
    return readme[start: readme.index("```\n<!-- /pipeline-example -->")]


def test_the_readme_pipeline_runs_as_a_script_with_the_virtualenvs_python(tmp_path):
    """The README's example, saved as a script and run with this interpreter, with no
    PYSPARK_PYTHON and a ``python3`` on PATH that lacks pyarrow (a bare virtualenv): pyspark
    would start the workers from that one. It trains, answers, saves and loads, and prints no
    warning about the vocabulary's window."""
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    script = tmp_path / "example.py"
    script.write_text(_readme_example(), encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if key != "PYSPARK_PYTHON"}
    env["PATH"] = f"{bare / 'bin'}{os.pathsep}{env['PATH']}"
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"\|\s*word\|\s*similarity\|", done.stdout)
    assert re.search(r"Word2VecModel: uid=Word2Vec_\w+, numWords=\d+, vectorSize=100",
                     done.stdout)
    assert (tmp_path / "w2v-pipeline" / "stages").is_dir()
    assert "WARN WindowExec" not in done.stderr


def test_executors_without_pyarrow_fail_in_one_line_that_names_the_fix(tmp_path):
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    script = tmp_path / "fit.py"
    script.write_text(
        "from pyspark.sql import SparkSession\n"
        "from w2v_spark.ml import Word2Vec\n"
        "spark = SparkSession.builder.master('local[1]').config('spark.ui.enabled', 'false')"
        ".getOrCreate()\n"
        "df = spark.createDataFrame([('a b c a b'.split(),)] * 20, ['sentence'])\n"
        "Word2Vec(vectorSize=3, minCount=1, inputCol='sentence', seed=1).fit(df)\n",
        encoding="utf-8")
    env = dict(os.environ, PYSPARK_PYTHON=str(bare / "bin" / "python"))
    failed = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            timeout=300, cwd=tmp_path, env=env)
    assert failed.returncode != 0
    last = failed.stderr.strip().splitlines()[-1]
    assert "the executors' Python" in last and "cannot import 'pyarrow'" in last
    assert f"PYSPARK_PYTHON={sys.executable}" in last
