"""A drop-in for ``pyspark.ml.feature.Word2Vec``: same Params, names, docs and defaults, same
model API and errors, same model files, trained by w2v_spark (negative sampling, subsampling,
stratified partitions) instead of MLlib's hierarchical softmax.

    from w2v_spark.ml import Word2Vec        # instead of: from pyspark.ml.feature import Word2Vec
    model = Word2Vec(vectorSize=100, minCount=5, inputCol="words", outputCol="features").fit(df)
    model.getVectors(); model.findSynonyms("king", 5); model.transform(df)
    model.write().save(path); Word2VecModel.load(path)

Models are saved in MLlib's format (``pyspark.ml.feature.Word2VecModel.load`` and Scala/Java MLlib
read them); :meth:`Word2VecModel.load` and :class:`PipelineModel` read MLlib's files too.

Extra Params: ``negative`` (noise words per pair), ``sample`` (subsampling threshold),
``nsExponent`` (noise distribution exponent), ``model`` (``"skipgram"`` or ``"cbow"``; CBOW
averages partitions, see the README). ``numPartitions`` trains that many partitions in parallel
*without* the quality loss of MLlib's averaging (see the README).

Works in whatever session the dataset has, classic or Spark Connect (the same numbers in both;
over Connect ``transform`` joins the words with the vectors for models over
:data:`CONNECT_TRANSFORM_BYTES`, :func:`average_by_join`).

One module (≈ 580 lines): the drop-in is one public surface (two classes, their Params, their
files in MLlib's format, and the pipeline loader that reads them).
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
import uuid

import numpy as np
import pyarrow as pa
from pyspark import keyword_only
from pyspark.errors import IllegalArgumentException, PySparkKeyError, PythonException
from pyspark.ml import Estimator, Model
from pyspark.ml import PipelineModel as _PipelineModel
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
from pyspark.sql.types import (
    ArrayType,
    FloatType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from w2v_spark.config import SgnsConfig
from w2v_spark.corpus.pack import pack_corpus
from w2v_spark.corpus.tokenize import split_long_documents
from w2v_spark.corpus.vocab import build_vocab, count_words, in_id_order
from w2v_spark.errors import ConfigError, W2VError
from w2v_spark.sgns.plan import Tables
from w2v_spark.sgns.train import train_sgns
from w2v_spark.spark.context import Shared, is_connect, master_of
from w2v_spark.spark.files import FileSystem, qualify, write_table
from w2v_spark.spark.session import is_local, local_workers_python
from w2v_spark.vectors.embeddings import Embeddings
from w2v_spark.vectors.word2vec_format import embeddings_table


class _Word2VecParams(HasInputCol, HasOutputCol, HasSeed, HasStepSize, HasMaxIter):
    # MLlib's Params carry MLlib's docs word for word, so explainParams() reads the same.
    vectorSize = Param(Params._dummy(), "vectorSize",
                       "the dimension of codes after transforming from words",
                       typeConverter=TypeConverters.toInt)
    numPartitions = Param(Params._dummy(), "numPartitions",
                          "number of partitions for sentences of words",
                          typeConverter=TypeConverters.toInt)
    minCount = Param(Params._dummy(), "minCount",
                     "the minimum number of times a token must appear to be included in the "
                     "word2vec model's vocabulary", typeConverter=TypeConverters.toInt)
    windowSize = Param(Params._dummy(), "windowSize",
                       "the window size (context words from [-window, window]). "
                       "Default value is 5", typeConverter=TypeConverters.toInt)
    maxSentenceLength = Param(Params._dummy(), "maxSentenceLength",
                              "Maximum length (in words) of each sentence in the input data. "
                              "Any sentence longer than this threshold will be divided into "
                              "chunks up to the size.", typeConverter=TypeConverters.toInt)
    # Extras (MLlib has no such Params): saved in the model's metadata under "w2v_spark".
    negative = Param(Params._dummy(), "negative",
                     "w2v_spark extra: noise words drawn per training pair",
                     typeConverter=TypeConverters.toInt)
    sample = Param(Params._dummy(), "sample",
                   "w2v_spark extra: frequent-word subsampling threshold (0 = off)",
                   typeConverter=TypeConverters.toFloat)
    nsExponent = Param(Params._dummy(), "nsExponent",
                       "w2v_spark extra: noise distribution ∝ count^nsExponent",
                       typeConverter=TypeConverters.toFloat)
    model = Param(Params._dummy(), "model",
                  "w2v_spark extra: training objective, 'skipgram' or 'cbow'",
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

    def write(self) -> MLWriter:
        """pyspark's Params writer, whose ``overwrite()`` also works over Spark Connect."""
        return _EstimatorWriter(self)

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
            with local_workers_python(dataset.sparkSession):
                return self._train(dataset)
        except PythonException as error:
            missing = re.search(r"ModuleNotFoundError: No module named '([^']+)'", str(error))
            if missing is None:
                raise
            # MLlib trains in the JVM and never needs the executors' Python; we do.
            python = os.environ.get("PYSPARK_PYTHON", "python3")
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
        vocab = in_id_order(documents.transform(count_words).transform(
            build_vocab, min_count=self.getMinCount(), max_vocab_size=0,
            sample=self.getOrDefault(self.sample),
        ).toArrow())
        if vocab.num_rows == 0:
            raise ConfigError(f"Word2Vec: no word occurs minCount={self.getMinCount()} times")
        words = vocab.column("word").to_pylist()
        counts = vocab.column("count").to_numpy()
        corpus = pack_corpus(documents, words, partitions)
        try:
            tables = Tables.build(counts, vocab.column("keep_probability").to_numpy(),
                                  config.ns_exponent)
            trained, _ = train_sgns(spark, corpus, tables=tables, config=config,
                                    partitions=partitions, work=_work_directory(spark))
            try:
                vectors = trained.vectors()
            finally:
                trained.close()
        finally:
            corpus.unpersist()
        model = Word2VecModel(words, counts, vectors)
        model._resetUid(self.uid)  # as MLlib's: the model carries its estimator's uid
        model._session = spark
        return self._copyValues(model)


def _work_directory(spark) -> str | None:
    """A new directory for one fit's training files (deleted when it ends): under the session's
    checkpoint directory (``SparkContext.setCheckpointDir``; over Spark Connect, the
    ``spark.checkpoint.dir`` setting), else, with a local master, the temporary directory (over
    Spark Connect: a server on this machine); None on a cluster without one (then one
    partition, or CBOW, which averages partitions, can train in a classic session; stratified
    skip-gram asks for a checkpoint directory)."""
    if is_connect(spark):
        directory = spark.conf.get("spark.checkpoint.dir", None) or None
    else:
        directory = spark.sparkContext.getCheckpointDir()
    if directory is None and is_local(master_of(spark)):
        directory = tempfile.gettempdir()
    return None if directory is None else f"{directory.rstrip('/')}/w2v_spark-{uuid.uuid4().hex}"


#: The largest model whose vectors ``transform`` sends inside its function over Spark Connect,
#: through the server's driver: with its default 1 GB heap, 60 MB worked and 100 MB killed it
#: (OutOfMemoryError), session 18. A larger model's words are joined with its vectors instead
#: (:func:`average_by_join`).
CONNECT_TRANSFORM_BYTES = 48 << 20


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

    def __repr__(self) -> str:
        return (f"Word2VecModel: uid={self.uid}, numWords={len(self._embeddings.words)}, "
                f"vectorSize={self.getVectorSize()}")

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

    def _vectors_frame(self) -> DataFrame:
        """``word string, vector array<float>``."""
        return self._spark().createDataFrame(self._vectors_table().select(["word", "vector"]))

    def getVectors(self) -> DataFrame:
        """``word string, vector vector`` (ML dense vectors), as MLlib returns them."""
        return self._vectors_frame().select("word", array_to_vector("vector").alias("vector"))

    def findSynonymsArray(self, word, num: int) -> list[tuple[str, float]]:
        """The ``num`` nearest words by cosine similarity to ``word`` (itself excluded) or, as
        MLlib, to a vector (a ``Vector``, list or array of ``vectorSize`` numbers; no word
        excluded). An unknown word raises ``PySparkKeyError`` (a ``KeyError``) with MLlib's
        message, ``"<word> not in vocabulary"``."""
        if num <= 0:
            raise IllegalArgumentException(
                message="requirement failed: Number of similar words should > 0")
        emb = self._embeddings
        if isinstance(word, str):
            if word not in emb.index:
                raise PySparkKeyError(message=f"{word} not in vocabulary")
            return emb.most_similar(word, topn=num)
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
        # The same column metadata as MLlib: the vector's size, for downstream ML stages.
        metadata = {"ml_attr": {"num_attrs": int(emb.vectors.shape[1])}}
        if is_connect(dataset.sparkSession) and emb.vectors.nbytes > CONNECT_TRANSFORM_BYTES:
            return average_by_join(dataset, self._vectors_frame(), self.getInputCol(),
                                   self.getOutputCol(), int(emb.vectors.shape[1]), metadata)
        # A broadcast; over Spark Connect, inside the function (Shared).
        shared = Shared(dataset.sparkSession, (emb.index, emb.vectors), None)

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

        with local_workers_python(dataset.sparkSession):  # the UDF takes its Python here
            column = average(F.col(self.getInputCol()))
        return dataset.withColumn(self.getOutputCol(),
                                  column.alias(self.getOutputCol(), metadata=metadata))

    def write(self) -> MLWriter:
        """Writes MLlib's format: ``pyspark.ml.feature.Word2VecModel.load`` (and Scala's) read it;
        so does ours, which also restores the extra Params and the word counts."""
        return _ModelWriter(self)

    @classmethod
    def read(cls) -> MLReader:
        """Reads a model saved by MLlib (``word, vector``) or by w2v_spark."""
        return _ModelReader(cls)


def average_by_join(dataset: DataFrame, vectors: DataFrame, input_col: str, output_col: str,
                    size: int, metadata: dict) -> DataFrame:
    """``Word2VecModel.transform`` without the vectors in the function: ``dataset`` with
    ``output_col`` = the average of the vectors of ``input_col``'s words (``vectors``: ``word
    string, vector array<float>``), joined word by word. Over Spark Connect for models over
    :data:`CONNECT_TRANSFORM_BYTES`; the same bits as the function (the vectors added in the
    words' order, in float64, then divided by the number of words), the rows in their order.

    Each row's words, with their positions, meet the vectors in a join and come back together
    in a group by a row id; the other columns travel with the words (one evaluation of
    ``dataset``: a second one might number its rows differently)."""
    row, position, word, vector, hits = (f"__w2v_{name}" for name in
                                         ("row", "position", "word", "vector", "hits"))
    columns = dataset.columns
    words = F.col(_quoted(input_col))
    exploded = dataset.withColumn(row, F.monotonically_increasing_id()).select(
        "*", F.posexplode_outer(words).alias(position, word))
    found = exploded.join(vectors.select(F.col("word").alias(word), F.col("vector").alias(vector)),
                          word, "left")
    hit = F.when(F.col(vector).isNotNull(), F.struct(position, vector))
    grouped = found.groupBy(row).agg(
        *[F.first(_quoted(name)).alias(name) for name in columns],
        F.array_sort(F.collect_list(hit)).alias(hits))
    zeros = F.array_repeat(F.lit(0.0), size)
    total = F.aggregate(hits, zeros, lambda acc, h: F.zip_with(
        acc, h[vector], lambda a, b: a + b.cast("double")))
    count = F.coalesce(F.size(words), F.lit(0))
    average = array_to_vector(
        F.when(count > 0, F.transform(total, lambda x: x / count)).otherwise(zeros),
    ).alias(output_col, metadata=metadata)
    kept = [average if name == output_col else F.col(_quoted(name)) for name in columns]
    if output_col not in columns:
        kept.append(average)
    return grouped.orderBy(row).select(*kept)


def _quoted(name: str) -> str:
    """A column name as ``F.col`` reads it literally (dots and backticks included)."""
    return "`" + name.replace("`", "``") + "`"


#: The class name and Params a model directory must hold for MLlib to load it.
MLLIB_MODEL_CLASS = "org.apache.spark.ml.feature.Word2VecModel"
MLLIB_PARAMS = ("inputCol", "outputCol", "maxIter", "stepSize", "seed", "vectorSize",
                "numPartitions", "minCount", "windowSize", "maxSentenceLength")
#: ``data/`` as MLlib reads it (``word``, ``vector``), with our word counts.
MLLIB_DATA = StructType([
    StructField("word", StringType(), nullable=False),
    StructField("vector", ArrayType(FloatType(), containsNull=False), nullable=False),
    StructField("count", LongType(), nullable=False),
])
#: What earlier versions of w2v_spark wrote as the class (still read).
_OWN_MODEL_CLASS = f"{__name__}.Word2VecModel"


def _param_maps(instance: Params) -> dict[str, dict[str, dict]]:
    """``{"mllib" | "extra": {"paramMap": …, "defaultParamMap": …}}``: MLlib's Params apart from
    ours, because MLlib's reader refuses a Param its class does not have."""
    maps = {side: {"paramMap": {}, "defaultParamMap": {}} for side in ("mllib", "extra")}
    for key, values in (("paramMap", instance._paramMap), ("defaultParamMap", instance._defaultParamMap)):
        for param, value in values.items():
            maps["mllib" if param.name in MLLIB_PARAMS else "extra"][key][param.name] = value
    return maps


class _Overwrite:
    """``overwrite()`` through :class:`~w2v_spark.spark.files.FileSystem`: pyspark's asks the
    session's JVM, which a Spark Connect client does not have."""

    def _handleOverwrite(self, path: str) -> None:
        path = qualify(path)
        FileSystem(path).delete(path)


class _EstimatorWriter(_Overwrite, DefaultParamsWriter):
    pass


class _ModelWriter(_Overwrite, MLWriter):
    """``metadata/`` as MLlib writes it (its class name, its Params; ours under ``"w2v_spark"``,
    which MLlib's reader ignores) and ``data/``: ``word string, vector array<float>`` as MLlib,
    plus ``count bigint``, one Parquet file, rows in id order (most frequent first)."""

    def __init__(self, instance: Word2VecModel):
        super().__init__()
        self.instance = instance

    def saveImpl(self, path: str) -> None:
        spark = self.sparkSession
        maps = _param_maps(self.instance)
        metadata = {
            "class": MLLIB_MODEL_CLASS,
            "timestamp": int(round(time.time() * 1000)),
            "sparkVersion": spark.version,
            "uid": self.instance.uid,
            **maps["mllib"],
            "w2v_spark": maps["extra"],
        }
        spark.createDataFrame([(json.dumps(metadata, separators=(",", ":")),)], "value string") \
            .coalesce(1).write.text(f"{path}/metadata")
        # Written by the driver's pyarrow: the rows never enter the JVM (see write_table).
        write_table(self.instance._vectors_table().select(["word", "vector", "count"]),
                    f"{path}/data", schema=MLLIB_DATA)


class _Reader(MLReader):
    def __init__(self, cls):
        super().__init__()
        self.cls = cls


class _ModelReader(_Reader):
    def load(self, path: str) -> Word2VecModel:
        spark = self.sparkSession
        return _read_model(self.cls, spark, path, DefaultParamsReader.loadMetadata(path, spark))


def _read_model(cls, spark: SparkSession, path: str, metadata: dict) -> Word2VecModel:
    """The model at ``path`` whose ``metadata/`` (already read) is ``metadata``."""
    if metadata["class"] not in (MLLIB_MODEL_CLASS, _OWN_MODEL_CLASS):
        raise IllegalArgumentException(
            message=f"requirement failed: Error loading metadata: Expected class name "
                    f"{MLLIB_MODEL_CLASS} but found class name {metadata['class']}")
    data = spark.read.parquet(f"{path}/data")
    if "id" in data.columns:  # w2v_spark before MLlib's format: rows may come in any order
        data = data.orderBy("id")
    table = data.toArrow()
    words = table.column("word").to_pylist()
    vectors = np.stack(table.column("vector").to_numpy(zero_copy_only=False)).astype(np.float32) \
        if words else np.zeros((0, 0), np.float32)
    # MLlib keeps no counts: zeros, and rows in the order of MLlib's files.
    counts = (table.column("count").to_numpy() if "count" in table.column_names
              else np.zeros(len(words), np.int64))
    model = cls(words, counts, vectors)
    model._resetUid(metadata["uid"])
    model._session = spark
    DefaultParamsReader.getAndSetParams(model, metadata)
    extra = metadata.get("w2v_spark", {})
    for name, value in extra.get("defaultParamMap", {}).items():
        model._setDefault(**{name: value})
    for name, value in extra.get("paramMap", {}).items():
        model._set(**{name: value})
    return model


class PipelineModel(_PipelineModel):
    """``pyspark.ml.PipelineModel`` whose ``load`` gives :class:`Word2VecModel` (ours) for every
    Word2Vec stage, saved by MLlib (a Scala/Java or pyspark pipeline) or by w2v_spark; the other
    stages load as pyspark loads them. Swap the import as for :class:`Word2Vec`."""

    @classmethod
    def read(cls) -> MLReader:
        return _PipelineModelReader(cls)


class _PipelineModelReader(_Reader):
    def load(self, path: str) -> PipelineModel:
        spark = self.sparkSession
        metadata = DefaultParamsReader.loadMetadata(path, spark)
        uids = metadata["paramMap"]["stageUids"]
        digits = len(str(len(uids)))  # stage directories as MLlib and pyspark name them
        stages = []
        for index, uid in enumerate(uids):
            stage_path = f"{path}/stages/{index:0{digits}d}_{uid}"
            stage = DefaultParamsReader.loadMetadata(stage_path, spark)
            if stage["class"] in (MLLIB_MODEL_CLASS, _OWN_MODEL_CLASS):
                stages.append(_read_model(Word2VecModel, spark, stage_path, stage))
            else:
                stages.append(DefaultParamsReader.loadParamsInstance(stage_path, spark))
        model = self.cls(stages=stages)
        model._resetUid(metadata["uid"])
        return model
