"""A drop-in for ``pyspark.ml.feature.Word2Vec``: same Params, names and defaults, same model API,
trained by w2v_spark (negative sampling, subsampling, stratified partitions) instead of MLlib's
hierarchical softmax.

    from w2v_spark.ml import Word2Vec        # instead of: from pyspark.ml.feature import Word2Vec
    model = Word2Vec(vectorSize=100, minCount=5, inputCol="words", outputCol="features").fit(df)
    model.getVectors(); model.findSynonyms("king", 5); model.transform(df)
    model.write().save(path); Word2VecModel.load(path)

Extra Params: ``negative`` (noise words per pair), ``sample`` (subsampling threshold),
``nsExponent`` (noise distribution exponent), ``model`` (``"skipgram"`` or ``"cbow"``; CBOW
averages partitions, see the README). ``numPartitions`` trains that many partitions in parallel *without* the quality loss of
MLlib's averaging (see the README).
"""

from __future__ import annotations

import re
import sys

import numpy as np
import pyarrow as pa
from pyspark import keyword_only
from pyspark.errors import IllegalArgumentException, PythonException
from pyspark.ml import Estimator, Model
from pyspark.ml.functions import array_to_vector
from pyspark.ml.linalg import DenseVector, VectorUDT
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import (
    HasInputCol,
    HasMaxIter,
    HasOutputCol,
    HasSeed,
    HasStepSize,
)
from pyspark.ml.util import (
    DefaultParamsReadable,
    DefaultParamsReader,
    DefaultParamsWritable,
    DefaultParamsWriter,
    MLReadable,
    MLReader,
    MLWritable,
    MLWriter,
)
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from w2v_spark.config import SgnsConfig
from w2v_spark.embeddings import Embeddings
from w2v_spark.epochs import Tables
from w2v_spark.errors import ConfigError, W2VError
from w2v_spark.io import embeddings_table
from w2v_spark.tokenize import split_long_documents
from w2v_spark.train import pack_corpus, train_sgns
from w2v_spark.vocab import build_vocab, count_words


class _Word2VecParams(HasInputCol, HasOutputCol, HasSeed, HasStepSize, HasMaxIter):
    vectorSize = Param(Params._dummy(), "vectorSize", "dimension of the word vectors",
                       typeConverter=TypeConverters.toInt)
    minCount = Param(Params._dummy(), "minCount", "minimum number of times a word must appear",
                     typeConverter=TypeConverters.toInt)
    numPartitions = Param(Params._dummy(), "numPartitions", "partitions trained in parallel",
                          typeConverter=TypeConverters.toInt)
    windowSize = Param(Params._dummy(), "windowSize", "maximum distance between centre and context",
                       typeConverter=TypeConverters.toInt)
    maxSentenceLength = Param(Params._dummy(), "maxSentenceLength",
                              "longer sentences are split into chunks of this many words",
                              typeConverter=TypeConverters.toInt)
    negative = Param(Params._dummy(), "negative", "noise words per training pair",
                     typeConverter=TypeConverters.toInt)
    sample = Param(Params._dummy(), "sample", "frequent-word subsampling threshold (0 = off)",
                   typeConverter=TypeConverters.toFloat)
    nsExponent = Param(Params._dummy(), "nsExponent", "noise distribution ∝ count^nsExponent",
                       typeConverter=TypeConverters.toFloat)
    model = Param(Params._dummy(), "model", "training objective: 'skipgram' or 'cbow'",
                  typeConverter=TypeConverters.toString)

    def __init__(self, *args):
        super().__init__(*args)
        self._setDefault(vectorSize=100, minCount=5, numPartitions=1, stepSize=0.025, maxIter=1,
                         windowSize=5, maxSentenceLength=1000, negative=5, sample=1e-3,
                         nsExponent=0.75, model="skipgram")

    def getVectorSize(self) -> int:
        return self.getOrDefault(self.vectorSize)

    def getMinCount(self) -> int:
        return self.getOrDefault(self.minCount)

    def getNumPartitions(self) -> int:
        return self.getOrDefault(self.numPartitions)

    def getWindowSize(self) -> int:
        return self.getOrDefault(self.windowSize)

    def getMaxSentenceLength(self) -> int:
        return self.getOrDefault(self.maxSentenceLength)


def _check_input_column(dataset: DataFrame, column: str) -> None:
    """MLlib's errors for an input column that is missing or not ``array<string>``: the same
    exception class (``pyspark.errors.IllegalArgumentException``) and message."""
    fields = {field.name: field for field in dataset.schema.fields}
    if column not in fields:
        names = ", ".join(f"`{name}`" for name in fields)
        raise IllegalArgumentException(
            message=f"[FIELD_NOT_FOUND] No such struct field `{column}` in {names}. "
                    "SQLSTATE: 42704")
    kind = fields[column].dataType.simpleString()
    if kind != "array<string>":
        raise IllegalArgumentException(
            message=f"requirement failed: Column {column} must be of type equal to one of the "
                    f"following types: [array<string>, array<string>] but was actually of type "
                    f"{kind}.")


class Word2Vec(Estimator, _Word2VecParams, DefaultParamsWritable, DefaultParamsReadable):
    """Estimator: ``array<string>`` column → :class:`Word2VecModel` (see the module docstring)."""

    @keyword_only
    def __init__(self, *, vectorSize=100, minCount=5, numPartitions=1, stepSize=0.025, maxIter=1,
                 seed=None, inputCol=None, outputCol=None, windowSize=5, maxSentenceLength=1000,
                 negative=5, sample=1e-3, nsExponent=0.75, model="skipgram"):
        super().__init__()
        self._set(**self._input_kwargs)

    @keyword_only
    def setParams(self, *, vectorSize=100, minCount=5, numPartitions=1, stepSize=0.025, maxIter=1,
                  seed=None, inputCol=None, outputCol=None, windowSize=5, maxSentenceLength=1000,
                  negative=5, sample=1e-3, nsExponent=0.75, model="skipgram"):
        return self._set(**self._input_kwargs)

    def setVectorSize(self, value):
        return self._set(vectorSize=value)

    def setMinCount(self, value):
        return self._set(minCount=value)

    def setNumPartitions(self, value):
        return self._set(numPartitions=value)

    def setStepSize(self, value):
        return self._set(stepSize=value)

    def setMaxIter(self, value):
        return self._set(maxIter=value)

    def setSeed(self, value):
        return self._set(seed=value)

    def setInputCol(self, value):
        return self._set(inputCol=value)

    def setOutputCol(self, value):
        return self._set(outputCol=value)

    def setWindowSize(self, value):
        return self._set(windowSize=value)

    def setMaxSentenceLength(self, value):
        return self._set(maxSentenceLength=value)

    def _sgns_config(self) -> SgnsConfig:
        model = self.getOrDefault(self.model)
        try:
            return SgnsConfig(
                vector_size=self.getVectorSize(), window=self.getWindowSize(),
                negative=self.getOrDefault(self.negative), ns_exponent=self.getOrDefault(self.nsExponent),
                alpha=self.getOrDefault(self.stepSize), min_alpha=min(0.0001, self.getOrDefault(self.stepSize)),
                epochs=self.getOrDefault(self.maxIter), seed=abs(int(self.getOrDefault(self.seed))) % 2**31,
                model=model,  # partition_mode "auto": CBOW averages partitions
            )
        except ConfigError as err:  # our messages name config keys; say which Param instead
            raise ConfigError(f"Word2Vec Param: {err}") from None

    def _fit(self, dataset: DataFrame) -> "Word2VecModel":
        _check_input_column(dataset, self.getInputCol())
        try:
            return self._train(dataset)
        except PythonException as error:
            missing = re.search(r"ModuleNotFoundError: No module named '([^']+)'", str(error))
            if missing is None:
                raise
            # MLlib trains in the JVM and never needs the executors' Python; we do.
            python = getattr(dataset.sparkSession.sparkContext, "pythonExec", "python3")
            raise W2VError(
                f"Word2Vec: the executors' Python ({python}) cannot import {missing.group(1)!r}; "
                f"start Spark with PYSPARK_PYTHON={sys.executable} (or spark.pyspark.python) "
                "set to a Python that has w2v_spark, or ship the `make dist` archive "
                "(README, Running on a cluster)") from None

    def _train(self, dataset: DataFrame) -> "Word2VecModel":
        config = self._sgns_config()
        spark = dataset.sparkSession
        partitions = self.getNumPartitions()
        documents = split_long_documents(
            dataset.select(F.col(self.getInputCol()).alias("tokens")).where(F.size("tokens") > 0),
            self.getMaxSentenceLength(),
        )
        vocab = documents.transform(count_words).transform(
            build_vocab, min_count=self.getMinCount(), max_vocab_size=0,
            sample=self.getOrDefault(self.sample),
        ).toArrow().sort_by("id")
        if vocab.num_rows == 0:
            raise ConfigError(f"Word2Vec: no word occurs minCount={self.getMinCount()} times")
        words = vocab.column("word").to_pylist()
        counts = vocab.column("count").to_numpy()
        corpus = pack_corpus(documents, words, partitions)
        try:
            tables = Tables.build(counts, vocab.column("keep_probability").to_numpy(),
                                  config.ns_exponent)
            vectors, _ = train_sgns(spark, corpus, tables=tables, config=config, partitions=partitions)
        finally:
            corpus.unpersist()
        model = Word2VecModel(words, counts, vectors)
        model._resetUid(self.uid)  # as MLlib's: the model carries its estimator's uid
        model._session = spark
        return self._copyValues(model)


class Word2VecModel(Model, _Word2VecParams, MLWritable, MLReadable):
    """The fitted vectors; API of ``pyspark.ml.feature.Word2VecModel``."""

    def __init__(self, words=None, counts=None, vectors=None):
        super().__init__()
        self._embeddings = Embeddings(words or [], counts if counts is not None else np.zeros(0),
                                      vectors if vectors is not None else np.zeros((0, 0), np.float32))
        #: The session that fitted or loaded the model: getVectors / findSynonyms work from any
        #: thread, not only from the one whose active session it is.
        self._session: SparkSession | None = None

    def _spark(self) -> SparkSession:
        return (self._session or SparkSession.getActiveSession()
                or SparkSession.builder.getOrCreate())

    def setInputCol(self, value):
        return self._set(inputCol=value)

    def setOutputCol(self, value):
        return self._set(outputCol=value)

    @property
    def embeddings(self) -> Embeddings:
        """The query API (:class:`w2v_spark.Embeddings`) over these vectors."""
        return self._embeddings

    def _vectors_table(self) -> pa.Table:
        """``word, id, count, vector array<float>`` (``schemas.EMBEDDINGS``)."""
        emb = self._embeddings
        return embeddings_table(emb.words, emb.counts, emb.vectors)

    def getVectors(self) -> DataFrame:
        """``word string, vector vector`` (ML dense vectors), as MLlib returns them."""
        spark = self._spark()
        frame = spark.createDataFrame(self._vectors_table().select(["word", "vector"]))
        return frame.select("word", array_to_vector("vector").alias("vector"))

    def findSynonymsArray(self, word, num: int) -> list[tuple[str, float]]:
        """The ``num`` nearest words by cosine similarity to ``word`` (itself excluded) or, as
        MLlib, to a vector (a ``Vector``, list or array of ``vectorSize`` numbers; no word
        excluded)."""
        if isinstance(word, str):
            return self._embeddings.most_similar(word, topn=num)
        emb = self._embeddings
        query = np.asarray(word.toArray() if hasattr(word, "toArray") else word, dtype=np.float64)
        if query.shape != (emb.vectors.shape[1],):
            raise IllegalArgumentException(
                message=f"requirement failed: the vector has {query.size} values, the model's "
                        f"have {emb.vectors.shape[1]}")
        norm = np.linalg.norm(query)
        scores = emb.unit @ (query / norm if norm > 0 else query)
        best = np.argsort(-scores, kind="stable")[:num]
        return [(emb.words[i], float(scores[i])) for i in best]

    def findSynonyms(self, word, num: int) -> DataFrame:
        """``word string, similarity double``, nearest first (``word``: a word or a vector)."""
        spark = self._spark()
        return spark.createDataFrame(self.findSynonymsArray(word, num),
                                     "word string, similarity double not null")

    def _transform(self, dataset: DataFrame) -> DataFrame:
        """Each row's vector: the sum of its in-vocabulary words' vectors divided by its number of
        words (MLlib's definition; zeros for an empty row)."""
        _check_input_column(dataset, self.getInputCol())
        emb = self._embeddings
        shared = dataset.sparkSession.sparkContext.broadcast((emb.index, emb.vectors))

        @F.udf(returnType=VectorUDT())
        def average(words):
            index, vectors = shared.value
            total = np.zeros(vectors.shape[1], dtype=np.float64)
            if not words:
                return DenseVector(total)
            for word in words:
                row = index.get(word)
                if row is not None:
                    total += vectors[row]
            return DenseVector(total / len(words))

        # The same column metadata as MLlib: the vector's size, for downstream ML stages.
        metadata = {"ml_attr": {"num_attrs": int(emb.vectors.shape[1])}}
        return dataset.withColumn(self.getOutputCol(),
                                  average(F.col(self.getInputCol())).alias(self.getOutputCol(), metadata=metadata))

    def write(self) -> MLWriter:
        return _ModelWriter(self)

    @classmethod
    def read(cls) -> MLReader:
        return _ModelReader(cls)


class _ModelWriter(MLWriter):
    def __init__(self, instance: Word2VecModel):
        super().__init__()
        self.instance = instance

    def saveImpl(self, path: str) -> None:
        DefaultParamsWriter.saveMetadata(self.instance, path, self.sparkSession.sparkContext)
        table = self.instance._vectors_table()
        self.sparkSession.createDataFrame(table).coalesce(1).write.parquet(f"{path}/data")


class _ModelReader(MLReader):
    def __init__(self, cls):
        super().__init__()
        self.cls = cls

    def load(self, path: str) -> Word2VecModel:
        metadata = DefaultParamsReader.loadMetadata(path, self.sparkSession.sparkContext)
        table = self.sparkSession.read.parquet(f"{path}/data").toArrow()
        vectors = np.stack(table.column("vector").to_numpy(zero_copy_only=False)).astype(np.float32)
        model = self.cls(table.column("word").to_pylist(), table.column("count").to_numpy(), vectors)
        model._resetUid(metadata["uid"])
        model._session = self.sparkSession
        DefaultParamsReader.getAndSetParams(model, metadata)
        return model
