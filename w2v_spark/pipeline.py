"""The ``train`` job: corpus → tokens → vocabulary → encoded corpus → SGNS → Parquet outputs.

Output layout under ``DIR`` (committed atomically, ``_SUCCESS`` last)::

    embeddings/      Parquet (word string, id int, count long, vector array<float>), by count desc
    vocab/           Parquet (id int, word string, count long, keep_probability double)
    vectors.txt      word2vec text format (when output.word2vec_text)
    _manifest.json   format version, resolved config, corpus/vocabulary stats, per-epoch metrics
    _SUCCESS
"""

from __future__ import annotations

import logging
import platform
from datetime import datetime, timezone
from importlib import metadata

import numpy as np
import pyarrow as pa
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from w2v_spark import io
from w2v_spark.config import JobConfig
from w2v_spark.encode import encode
from w2v_spark.epochs import Split, Tables
from w2v_spark.errors import ConfigError, InputDataError
from w2v_spark.sampling import build_noise_table
from w2v_spark.schemas import VOCAB
from w2v_spark.tokenize import tokenize
from w2v_spark.train import pack_corpus, reports_as_dicts, train_sgns
from w2v_spark.vocab import build_vocab, count_words

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


def check_token_pattern(spark: SparkSession, pattern: str) -> None:
    """Spark uses Java regexes: compile it in the JVM so a bad one fails before any work."""
    try:
        spark.sparkContext._jvm.java.util.regex.Pattern.compile(pattern)
    except Exception as err:  # noqa: BLE001 - py4j wraps PatternSyntaxException
        first = str(err).split("PatternSyntaxException:")[-1].strip().splitlines()[0]
        raise ConfigError(f"config tokenize.token_pattern: not a valid Java regex ({first})") from None


def run(spark: SparkSession, config: JobConfig, input_path: str, output_path: str) -> dict:
    """Train SGNS embeddings from the corpus at ``input_path`` into ``output_path``.

    Returns the manifest written to ``_manifest.json``. On any error nothing is left at
    ``output_path`` (a previous complete result stays untouched).
    """
    started = datetime.now(timezone.utc)
    input_path = io.qualify(input_path)
    check_token_pattern(spark, config.tokenize.token_pattern)
    output = io.Output(spark, output_path, config.output.on_existing)
    output.check()
    try:
        manifest = _run(spark, config, input_path, output)
        manifest["started_at"] = started.isoformat(timespec="seconds")
        manifest["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        output.write_json("_manifest.json", manifest)
        output.commit()
        return manifest
    except BaseException:
        output.abort()
        raise


def _run(spark: SparkSession, config: JobConfig, input_path: str, output: io.Output) -> dict:
    timer = Split(log)
    sc = spark.sparkContext
    tok = config.tokenize
    lines, column = io.read_lines(spark, input_path, config.input)
    # Not cached: tokenizing again for encoding (≈ 2 s on bench-en) is cheaper than holding every
    # token string in executor memory between the two passes.
    documents = lines.transform(
        tokenize, column=column, lowercase=tok.lowercase, token_pattern=tok.token_pattern,
        min_token_length=tok.min_token_length, max_sentence_length=tok.max_sentence_length,
    )

    with timer("vocabulary"):
        sc.setJobDescription("vocabulary: counting words")
        word_counts = documents.transform(count_words).cache()
        totals = word_counts.agg(F.sum("count").alias("tokens"), F.count("*").alias("types")).first()
        corpus_tokens = int(totals["tokens"] or 0)
        if corpus_tokens == 0:
            raise InputDataError(
                f"input {input_path} contains no tokens (empty, or no text matches "
                f"tokenize.token_pattern {tok.token_pattern!r})"
            )
        voc = config.vocab
        vocab = word_counts.transform(
            build_vocab, min_count=voc.min_count, max_vocab_size=voc.max_vocab_size, sample=voc.sample
        ).toArrow().sort_by("id")
        if vocab.num_rows == 0:
            top = word_counts.orderBy(F.desc("count"), "word").first()
            raise InputDataError(
                f"vocabulary is empty: no word occurs vocab.min_count={voc.min_count} times "
                f"(the most frequent, {top['word']!r}, occurs {top['count']} times); lower vocab.min_count"
            )
        word_counts.unpersist()
    words = vocab.column("word").to_pylist()
    counts = vocab.column("count").to_numpy()
    keep_probability = vocab.column("keep_probability").to_numpy().astype(np.float32)
    log.info("corpus: %d tokens, %d distinct; vocabulary: %d words (min_count %d), %d tokens",
             corpus_tokens, totals["types"], len(words), voc.min_count, int(counts.sum()))

    with timer("encode"):
        sc.setJobDescription("encoding and caching the corpus")
        partitions = config.spark.partitions
        corpus = pack_corpus(documents.transform(encode, words=words), partitions)
        sizes = corpus.map(lambda part: (int(part[0].shape[0]), int(part[1].shape[0] - 1))).collect()
        training_tokens = sum(s[0] for s in sizes)
        training_documents = sum(s[1] for s in sizes)
        log.info("corpus cached: %d documents, %d in-vocabulary tokens over %d partitions",
                 training_documents, training_tokens, partitions)

    with timer("train"):
        tables = Tables(
            counts=counts, keep_probability=keep_probability,
            noise=build_noise_table(counts, config.sgns.ns_exponent),
            ns_exponent=config.sgns.ns_exponent,
        )
        vectors, reports = train_sgns(spark, corpus, tables=tables, config=config.sgns,
                                      partitions=partitions)
        corpus.unpersist()

    with timer("write"):
        sc.setJobDescription("writing outputs")
        io.write_table(spark, io.embeddings_table(words, counts, vectors), output.path("embeddings"))
        io.write_table(spark, vocab.cast(_arrow_schema(VOCAB)), output.path("vocab"), schema=VOCAB)
        if config.output.word2vec_text:
            output.write_chunks("vectors.txt", io.word2vec_text(words, vectors))
    sc.setJobDescription(None)

    return {
        "format_version": FORMAT_VERSION,
        "method": "sgns",
        "input": {"path": input_path, "format": config.input.format},
        "config": config.to_dict(),
        "seed": config.sgns.seed,
        "corpus": {
            "tokens": corpus_tokens,
            "distinct_words": int(totals["types"]),
            "training_documents": training_documents,
            "training_tokens": training_tokens,
        },
        "vocabulary": {"size": len(words), "tokens": int(counts.sum()),
                       "most_frequent": words[:10]},
        "training": {
            "partitions": partitions,
            "partition_mode": config.sgns.partition_mode if partitions > 1 else "single",
            "kernel": config.sgns.resolved_kernel(),
            "rounds_per_epoch": config.sgns.rounds(partitions)
            if partitions > 1 and config.sgns.partition_mode == "stratified" else 1,
            "epochs": reports_as_dicts(reports),
        },
        "timings_seconds": timer.rounded(),
        "outputs": {
            "embeddings": "embeddings/", "vocab": "vocab/",
            **({"word2vec_text": "vectors.txt"} if config.output.word2vec_text else {}),
        },
        "versions": versions(),
    }


def _arrow_schema(schema) -> pa.Schema:
    types = {"int": pa.int32(), "string": pa.string(), "bigint": pa.int64(), "double": pa.float64()}
    return pa.schema([pa.field(f.name, types[f.dataType.simpleString()], nullable=f.nullable)
                      for f in schema.fields])


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in ("w2v_spark", "pyspark", "numpy", "scipy", "pyarrow"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "unknown"
    return found
