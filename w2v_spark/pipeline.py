"""The jobs: corpus → tokens → one vocabulary → each method of ``[pipeline] methods`` → Parquet.

Output layout under ``DIR`` (committed atomically, ``_SUCCESS`` last)::

    embeddings/      Parquet (word string, id int, count long, vector array<float>), by count desc
    vocab/           Parquet (id int, word string, count long, keep_probability double)
    vectors.txt      word2vec text format (when output.word2vec_text)
    cooccurrence/    ppmi_svd only: Parquet (word_id int, context_id int, count double)
    ppmi/            ppmi_svd only: Parquet (word_id int, context_id int, ppmi double)
    _manifest.json   format version, resolved config, corpus/vocabulary stats, per-method metrics
    _SUCCESS

With one method its outputs sit at the top of ``DIR``; with several (``methods = ["sgns",
"ppmi_svd"]``) each method's go under ``DIR/sgns/`` and ``DIR/ppmi_svd/``, over one vocabulary.

One module (≈ 570 lines): a run read top to bottom, stage after stage (input check, vocabulary,
each method, outputs, validation, commit); the stages themselves live in ``corpus/``, ``sgns/``,
``count/`` and ``vectors/``.
"""

from __future__ import annotations

import json
import logging
import platform
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata

import numpy as np
import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from w2v_spark.config import JobConfig, TokenizeConfig
from w2v_spark.corpus.encode import encode
from w2v_spark.corpus.pack import pack_corpus, spread_documents
from w2v_spark.corpus.read import read_lines
from w2v_spark.corpus.tokenize import tokenize
from w2v_spark.corpus.vocab import build_vocab, count_words, in_id_order
from w2v_spark.count.cooccurrence import cooccurrence
from w2v_spark.count.ppmi import ppmi
from w2v_spark.count.svd import (
    factor_width,
    randomized_svd,
    sparse_blocks,
    word_vectors,
)
from w2v_spark.errors import (
    ConfigError,
    InputDataError,
    OutputError,
    ResourceError,
    TrainingError,
    W2VError,
)
from w2v_spark.schemas import EMBEDDINGS, VOCAB
from w2v_spark.sgns.checkpoint import (
    Checkpoints,
    checkpoint_root,
    remove_checkpoints,
    vocabulary_fingerprint,
)
from w2v_spark.sgns.plan import Split, Tables
from w2v_spark.sgns.train import (
    TrainedModel,
    model_on_executors,
    reports_as_dicts,
    threads_per_trainer,
    train_sgns,
)
from w2v_spark.spark.context import (
    answers,
    conf_of,
    cores_of,
    describe,
    job_group,
    lent_settings,
    master_of,
)
from w2v_spark.spark.files import FileSystem, Output, qualify, write_table
from w2v_spark.spark.resources import check_memory, memory_failure
from w2v_spark.spark.session import is_local
from w2v_spark.vectors.word2vec_format import word2vec_text, word2vec_text_of

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


def _bad_pattern(err: BaseException, pattern: str) -> ConfigError | None:
    """The config error for Spark's refusal of ``tokenize.token_pattern`` (a Java regex, first
    compiled by the input check's job), or None for any other error."""
    text = str(err)
    if "INVALID_PARAMETER_VALUE.PATTERN" not in text and "PatternSyntaxException" not in text:
        return None
    return ConfigError(f"config tokenize.token_pattern: not a valid Java regex: {pattern!r}")


def run(spark: SparkSession, config: JobConfig, input_path: str, output_path: str,
        resume: bool = False) -> dict:
    """Run ``config.pipeline.methods`` on the corpus at ``input_path`` into ``output_path``.

    Returns the manifest written to ``_manifest.json``. On any error nothing is left at
    ``output_path`` (a previous complete result stays untouched); SGNS checkpoints stay beside it
    for ``resume``, and are removed after a successful commit unless ``output.keep_checkpoints``.
    """
    started = datetime.now(timezone.utc)
    input_path = qualify(input_path)
    output = Output(output_path, config.output.on_existing)
    output.check()
    # Read now: after an OutOfMemoryError the JVM that knows them may be gone.
    conf, local = conf_of(spark), is_local(master_of(spark))
    timer = Split(log)
    # One job group per run: the Spark UI lists its jobs together, and a supervisor can cancel
    # them with sc.cancelJobGroup (over Spark Connect: a tag); each stage then sets its own
    # description.
    with job_group(spark, f"w2v_spark-{output.run_id}",
                   f"w2v_spark {'+'.join(config.pipeline.methods)} → {output.target}"):
        try:
            manifest = _run(spark, config, input_path, output, timer, resume)
            manifest["run_id"] = output.run_id
            manifest["started_at"] = started.isoformat(timespec="seconds")
            manifest["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
            timer.current = "commit"
            _validate(spark, output, manifest)
            output.write_json("_manifest.json", manifest)
            output.commit()
        except BaseException as err:
            output.abort()
            explained = None if isinstance(err, W2VError) else memory_failure(
                err, stage=timer.current, conf=conf, local=local, jvm_alive=answers(spark))
            if explained is not None:
                log.debug("out of memory, details", exc_info=True)
                raise ResourceError(explained) from None
            raise
    if "sgns" in config.pipeline.methods and not config.output.keep_checkpoints:
        remove_checkpoints(spark, output_path)
    return manifest


@dataclass
class Corpus:
    """What every method shares: the tokenized corpus (a lazy DataFrame) and one vocabulary.

    ``spread``: when > 0, ``documents`` are kept in :func:`~w2v_spark.corpus.pack.spread_documents`'s
    layout for that many partitions (so packing them for training needs no shuffle)."""

    documents: DataFrame
    vocab: pa.Table
    #: The vocabulary's words in id order, as Arrow keeps them: 1 M words take ≈ 12 MB here,
    #: against ≈ 61 MB as a list of Python strings (session 17, a 1 M-word Zipf corpus).
    words: pa.StringArray
    counts: np.ndarray
    stats: dict
    spread: int = 0


def _run(spark: SparkSession, config: JobConfig, input_path: str, output: Output,
         timer: Split, resume: bool = False) -> dict:
    corpus = _read_corpus(spark, config, input_path, timer)
    methods = config.pipeline.methods
    # One method: its outputs at the top of DIR (the layout of the spine). Several: DIR/<method>/.
    nested = len(methods) > 1
    results = {}
    try:
        for method in methods:
            prefix = f"{method}/" if nested else ""
            if method == "sgns":
                results[method] = _train_sgns(spark, config, corpus, output, prefix, timer, resume)
            else:
                results[method] = _train_ppmi_svd(spark, config, corpus, output, prefix, timer)
    finally:
        _release(corpus.documents)  # kept only for a single-file input (_read_corpus)
    describe(spark, None)

    driver_versions = versions()
    manifest = {
        "format_version": FORMAT_VERSION,
        "method": methods[0] if not nested else list(methods),
        "input": {"path": input_path, "format": config.input.format},
        "config": config.to_dict(),
        "seed": config.sgns.seed,
        "corpus": corpus.stats,
        "vocabulary": {"size": len(corpus.words), "tokens": int(corpus.counts.sum()),
                       "most_frequent": corpus.words[:10].to_pylist()},
        "timings_seconds": timer.rounded(),
        # What the run had, where spark-submit or spark-defaults.conf overrode [spark.conf].
        "spark": {"master": master_of(spark),
                  "conf": {key: spark.conf.get(key, None) for key in sorted(config.spark.conf)}},
        "outputs": {},
        "versions": driver_versions,
        "executor_versions": executor_versions(spark, driver_versions),
    }
    for method, (section, outputs) in results.items():
        manifest.update(section)
        if nested:
            manifest["outputs"][method] = outputs
        else:
            manifest["outputs"] = outputs
    return manifest


def _read_corpus(spark: SparkSession, config: JobConfig, input_path: str, timer: Split) -> Corpus:
    tok = config.tokenize
    lines, column, input_bytes = read_lines(spark, input_path, config.input)
    with timer("input check"):
        describe(spark, "checking the input")
        # The first job: a bad token pattern fails here, before any other work.
        try:
            input_stats = _check_input(lines, column, input_path, config.input.max_line_length,
                                       config.tokenize, input_bytes=input_bytes)
        except Exception as err:
            bad = _bad_pattern(err, tok.token_pattern)
            if bad is None:
                raise
            raise bad from None
    documents = lines.transform(
        tokenize, column=column, normalization=tok.normalization, lowercase=tok.lowercase,
        token_pattern=tok.token_pattern,
        min_token_length=tok.min_token_length, max_sentence_length=tok.max_sentence_length,
    )
    cores, parts = cores_of(spark), input_stats.pop("partitions")
    spread = 0
    if parts < cores:
        # A single .gz (or a few files) is read and tokenized by one task per pass. Tokenized
        # once, spread over the cores and kept for the later passes (encoding, co-occurrences),
        # it costs one shuffle instead of single-core passes (bench-en: −2.7 s end to end).
        # Spread as training wants them when there are at least as many training partitions as
        # cores, so that packing them needs no second shuffle (bench-en, one machine: same time
        # within the noise; on a cluster one exchange of the corpus fewer).
        # Splittable input is tokenized again instead: cheaper than holding every token string.
        # Kept on disk only: cached in memory, the token arrays of a 30 M-word corpus (≈ 1 GB in
        # Spark's columnar cache) filled a 2 GB heap and the JVM died building the cache
        # (OutOfMemoryError in ColumnBuilder); from disk (and the OS's page cache) each later
        # pass reads them back at the same speed on bench-en.
        spread = max(cores, config.spark.partitions)
        log.info("input has %d partition(s) for %d cores: tokenizing once and keeping the "
                 "documents in %d partitions (on local disk)", parts, cores, spread)
        documents = spread_documents(documents, spread).persist(StorageLevel.DISK_ONLY)

    try:
        with timer("vocabulary"):
            describe(spark, "vocabulary: counting words")
            vocab, totals = _count_vocabulary(documents, config, input_path)
    except BaseException:
        _release(documents)  # no-op unless kept above
        raise
    corpus_tokens, voc = int(totals["tokens"]), config.vocab
    words = vocab.column("word").combine_chunks()
    counts = vocab.column("count").to_numpy()
    log.info("corpus: %d tokens, %d distinct; vocabulary: %d words (min_count %d), %d tokens",
             corpus_tokens, totals["types"], len(words), voc.min_count, int(counts.sum()))
    stats = {"tokens": corpus_tokens, "distinct_words": int(totals["types"]), **input_stats}
    return Corpus(documents=documents, vocab=vocab, words=words, counts=counts, stats=stats,
                  spread=spread)


def _release(frame: DataFrame) -> None:
    """Unpersist ``frame`` on the way out of a run; a JVM already gone (out of memory) must not
    hide the error that ended the run."""
    try:
        frame.unpersist()
    except Exception:  # noqa: BLE001
        log.debug("unpersist failed", exc_info=True)


def _count_vocabulary(documents: DataFrame, config: JobConfig, input_path: str) -> tuple[pa.Table, Row]:
    """The vocabulary table (sorted by id) and the corpus totals (``tokens``, ``types``); refuses a
    corpus without tokens or a vocabulary emptied by ``min_count``."""
    # One row per distinct word, read three times: cached, in as many partitions as cores. Left
    # in spark.sql.shuffle.partitions (200) cached partitions, every later pass ran 200 tasks
    # (bench-en: the vocabulary stage 7.5 s → 13 s).
    cores = cores_of(documents.sparkSession)
    word_counts = documents.transform(count_words).coalesce(cores).cache()
    try:
        totals = word_counts.agg(F.sum("count").alias("tokens"), F.count("*").alias("types")).first()
        if not totals["tokens"]:
            raise InputDataError(
                f"input {input_path} contains no tokens (empty, or no text matches "
                f"tokenize.token_pattern {config.tokenize.token_pattern!r})"
            )
        voc = config.vocab
        vocab = in_id_order(word_counts.transform(
            build_vocab, min_count=voc.min_count, max_vocab_size=voc.max_vocab_size, sample=voc.sample
        ).toArrow())
        if vocab.num_rows == 0:
            top = word_counts.orderBy(F.desc("count"), "word").first()
            raise InputDataError(
                f"vocabulary is empty: no word occurs vocab.min_count={voc.min_count} times "
                f"(the most frequent, {top['word']!r}, occurs {top['count']} times); lower vocab.min_count"
            )
        return vocab, totals
    finally:
        _release(word_counts)


#: Share of non-blank lines without a single token above which the log warns (a pattern that
#: does not fit the corpus's script silently drops its text).
TOKENLESS_WARNING = 0.02

#: Bytes of input the token check looks at: every line of a smaller input, a hashed sample of
#: the lines of a larger one, in proportion (bench-en's 9.9 MB .gz: one line in ten, ≈ 12,000
#: lines). The first pass over a corpus runs in a cold JVM, where matching every line of bench-en
#: cost 1.8 s more.
TOKEN_CHECK_BYTES = 1 << 20


def _check_input(lines: DataFrame, column: str, input_path: str, max_line_length: int,
                 tok: TokenizeConfig | None = None, input_bytes: int = 0) -> dict:
    """One pass over the raw lines before any heavy work: refuse binary input (NUL characters)
    and over-long lines; count lines with invalid UTF-8 (kept: the text reader keeps their bytes,
    tokenizing sees them as U+FFFD, which is never part of a token); with ``tok``, warn when
    more than :data:`TOKENLESS_WARNING` of the non-blank lines (all of them, or a sample when
    ``input_bytes`` exceeds :data:`TOKEN_CHECK_BYTES`) hold no token at all."""
    text = F.col(column)
    nonblank = F.trim(text) != ""
    checked, tokenless = F.lit(False), F.lit(None)
    rate = min(1.0, TOKEN_CHECK_BYTES / input_bytes) if input_bytes else 1.0
    if tok is not None:
        # The sample: lines whose hash falls below the rate (deterministic, whatever the
        # partitioning; Spark refuses rand() inside an aggregate).
        sampled = F.pmod(F.xxhash64(text), F.lit(1 << 20)) < F.lit(int(rate * (1 << 20)))
        checked = nonblank if rate >= 1.0 else nonblank & sampled
        # A regex *find* per line (it stops at the first token), on the text as it is; only a
        # line where that finds nothing is lower-cased and searched again (a pattern of
        # lower-case letters in a line in capitals).
        missing = ~text.rlike(tok.token_pattern)
        if tok.lowercase:
            missing = missing & ~F.lower(text).rlike(tok.token_pattern)
        tokenless = F.when(checked & missing, text)
    # The input's partitions, counted in the same pass (a Spark Connect session has no RDDs).
    row = lines.withColumn("_partition", F.spark_partition_id()).agg(
        F.count("*").alias("lines"),
        F.max(F.length(text)).alias("longest"),
        F.sum(F.when(F.instr(text, "\u0000") > 0, 1).otherwise(0)).alias("nul"),
        F.sum(F.when(F.is_valid_utf8(text), 0).otherwise(1)).alias("replaced"),
        F.count(F.when(checked, 1)).alias("checked"),
        F.count(tokenless).alias("tokenless"),
        F.first(tokenless, ignorenulls=True).alias("tokenless_example"),
        F.max("_partition").alias("last_partition"),
    ).first()
    if row["nul"]:
        raise InputDataError(
            f"input {input_path} looks binary: {row['nul']} of {row['lines']} lines contain NUL "
            "characters (expected UTF-8 text, one document per line)"
        )
    if (row["longest"] or 0) > max_line_length:
        raise InputDataError(
            f"input {input_path} has a line of {row['longest']:,} characters, more than "
            f"input.max_line_length={max_line_length:,}; split it into paragraphs, or raise the "
            "limit together with executor memory (tokenizing needs ~20× the line size)"
        )
    if row["replaced"]:
        log.warning("input: %d lines have invalid UTF-8; those bytes read as U+FFFD and split tokens",
                    row["replaced"])
    if row["checked"] and row["tokenless"] > TOKENLESS_WARNING * row["checked"]:
        example = row["tokenless_example"]
        log.warning(
            "input: %d of %d non-blank lines%s (%.0f %%) contain no token of "
            "tokenize.token_pattern %r and are dropped, e.g. %r; set tokenize.token_pattern to "
            "one that matches the corpus's script", row["tokenless"], row["checked"],
            "" if rate >= 1.0 else " checked", 100 * row["tokenless"] / row["checked"],
            tok.token_pattern, example if len(example) <= 80 else example[:77] + "...")
    return {"lines": int(row["lines"]), "lines_with_invalid_utf8": int(row["replaced"] or 0),
            "partitions": int(row["last_partition"] or 0) + 1}


def _validate(spark: SparkSession, output: Output, manifest: dict) -> None:
    """Read back what was staged before it is published: every ``embeddings/`` and ``vocab/``
    has the contract's schema and one row per vocabulary word."""
    size = manifest["vocabulary"]["size"]
    outputs = manifest["outputs"]
    for entry in (outputs.values() if "embeddings" not in outputs else [outputs]):
        for name, schema in (("embeddings", EMBEDDINGS), ("vocab", VOCAB)):
            frame = spark.read.parquet(output.path(entry[name]))
            found = [(f.name, f.dataType.simpleString()) for f in frame.schema]
            wanted = [(f.name, f.dataType.simpleString()) for f in schema]
            rows = frame.count()
            if found != wanted or rows != size:
                raise OutputError(
                    f"staged {entry[name]} failed validation ({rows} rows, schema {found}; expected "
                    f"{size} rows, {wanted}); nothing was published"
                )


def _write_common(spark: SparkSession, config: JobConfig, corpus: Corpus, model: TrainedModel,
                  output: Output, prefix: str) -> dict:
    """``embeddings/``, ``vocab/`` and (optionally) ``vectors.txt`` of one method."""
    outputs = {"embeddings": f"{prefix}embeddings/", "vocab": f"{prefix}vocab/"}
    embeddings = output.path(f"{prefix}embeddings")
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="w2v-text") as text_writer:
        text = None
        if config.output.word2vec_text and model.on_driver:
            if not np.isfinite(model.vectors()).all():
                raise TrainingError(f"{prefix or 'the'} vectors contain NaN or Inf; "
                                    "nothing was written")
            # Formatting floats holds the GIL (bench-en: 0.9 s); pyarrow's Parquet writer mostly
            # does not: done side by side.
            text = text_writer.submit(output.write_chunks, f"{prefix}vectors.txt",
                                      word2vec_text(corpus.words, model.vectors()))
        model.write_embeddings(corpus.words, corpus.counts, embeddings,
                               parts=config.spark.partitions)
        write_table(corpus.vocab, output.path(f"{prefix}vocab"), schema=VOCAB)
        if config.output.word2vec_text and not model.on_driver:
            # From the embeddings just written, a batch at a time: the model stays off the driver.
            output.write_chunks(f"{prefix}vectors.txt", word2vec_text_of(embeddings))
        if config.output.word2vec_text:
            outputs["word2vec_text"] = f"{prefix}vectors.txt"
        if text is not None:
            text.result()
    return outputs


def _train_sgns(spark, config: JobConfig, corpus: Corpus, output: Output, prefix: str,
                timer: Split, resume: bool = False) -> tuple[dict, dict]:
    conf = conf_of(spark)
    partitions = config.spark.partitions
    resources = check_memory(len(corpus.words), config.sgns.vector_size, conf,
                             tasks_per_executor=int(conf.get("spark.executor.cores", "1")),
                             on_executors_of=partitions if model_on_executors(
                                 config.sgns, partitions) else 0)
    with timer("encode"):
        describe(spark, "sgns: encoding and caching the corpus")
        packed = pack_corpus(corpus.documents, corpus.words, partitions,
                             spread=corpus.spread == partitions)
        training_tokens, training_documents = packed.sizes()
        log.info("corpus cached: %d documents, %d in-vocabulary tokens over %d partitions",
                 training_documents, training_tokens, partitions)
    corpus.stats.update(training_documents=training_documents, training_tokens=training_tokens)

    with timer("train"):
        tables = Tables.build(corpus.counts, corpus.vocab.column("keep_probability").to_numpy(),
                              config.sgns.ns_exponent)
        checkpoints = None
        if config.output.checkpoints or resume:
            checkpoints = Checkpoints(spark, output.target, config.to_dict(),
                                      vocabulary_fingerprint(corpus.words, corpus.counts))
        model, reports = train_sgns(spark, packed, tables=tables, config=config.sgns,
                                    partitions=partitions, checkpoints=checkpoints,
                                    resume=resume, debug=config.debug,
                                    work=checkpoint_root(output.target))
        packed.unpersist()

    with timer(f"{prefix}write" if prefix else "write"):
        describe(spark, "sgns: writing outputs")
        try:
            outputs = _write_common(spark, config, corpus, model, output, prefix)
        finally:
            model.close()
        if checkpoints is not None:
            checkpoints.wait()  # the last epoch's checkpoint was written meanwhile
    section = {
        "training": {
            "partitions": partitions,
            "partition_mode": config.sgns.resolved_partition_mode() if partitions > 1 else "single",
            "kernel": config.sgns.resolved_kernel(),
            "threads": threads_per_trainer(spark, config.sgns),
            "rounds_per_epoch": config.sgns.rounds(partitions)
            if partitions > 1 and config.sgns.resolved_partition_mode() == "stratified" else 1,
            "epochs": reports_as_dicts(reports),
            "memory": resources,
        }
    }
    return section, outputs


def _train_ppmi_svd(spark, config: JobConfig, corpus: Corpus, output: Output, prefix: str,
                    timer: Split) -> tuple[dict, dict]:
    cfg = config.ppmi
    vocab_size = len(corpus.words)
    encoded = corpus.documents.transform(encode, words=corpus.words)

    with timer("cooccurrence"):
        describe(spark, "ppmi_svd: counting co-occurrences")
        # Cached: PPMI reads it three times (marginals, join) and it is written out. On disk
        # only, like the PPMI table below: 34 M pairs and 25 M PPMI entries of a 30 M-word corpus
        # held in memory exhausted a 2 GB heap while the tables were written.
        pairs = encoded.transform(
            cooccurrence, vocab_size=vocab_size, window=cfg.window, weighting=cfg.weighting,
            dynamic_window=cfg.dynamic_window, min_pair_count=cfg.min_pair_count,
        ).persist(StorageLevel.DISK_ONLY)
        pair_count = pairs.count()
        if pair_count == 0:
            raise InputDataError(
                f"no word pairs within ppmi.window={cfg.window} (every document has a single "
                "in-vocabulary token, or ppmi.min_pair_count removed them all)"
            )
        log.info("co-occurrence: %d distinct pairs", pair_count)
    with timer("ppmi"):
        describe(spark, "ppmi_svd: PPMI")
        # The marginals are O(vocabulary): their shuffles get as many partitions as there are
        # cores, not the 200 the co-occurrence count needs. Into 200 or fewer partitions a map
        # task writes a file per partition (Spark's bypass writer, unless a setting turns it off
        # as ours do in local mode); five such shuffles of the 200 cached partitions made this
        # stage 4-5 × slower on a Connect server or a cluster with Spark's defaults. The PPMI
        # table keeps the co-occurrence table's partitions (a broadcast join): the same bits.
        with lent_settings(spark, {"spark.sql.shuffle.partitions": str(cores_of(spark))}):
            positive = pairs.transform(ppmi, cds=cfg.cds, shift=cfg.shift) \
                .persist(StorageLevel.DISK_ONLY)
            entry_count = positive.count()
        if entry_count == 0:
            raise InputDataError("the PPMI matrix has no positive entry; lower ppmi.shift")
        log.info("PPMI: %d positive entries (%.1f per word)", entry_count, entry_count / vocab_size)
    with timer(f"{prefix}write matrices" if prefix else "write matrices"):
        describe(spark, "ppmi_svd: writing the co-occurrence and PPMI tables")
        # Each cached partition holds a fixed set of keys (hash partitioned by the aggregation), so
        # sorting within partitions gives the same files every run without another shuffle.
        pairs.sortWithinPartitions("word_id", "context_id").write.parquet(output.path(f"{prefix}cooccurrence"))
        positive.sortWithinPartitions("word_id", "context_id").write.parquet(output.path(f"{prefix}ppmi"))
    with timer("svd"):
        describe(spark, "ppmi_svd: SVD")
        shape = (vocab_size, vocab_size)
        # Over Spark Connect the dense factors reach the tasks as files here (deleted below).
        work = output.path(f"{prefix}.svd")
        rank = min(cfg.vector_size, vocab_size)
        width = factor_width(shape, rank, cfg.oversample)
        matrix = sparse_blocks(positive, shape, config.spark.partitions, width=width, work=work)
        transposed = sparse_blocks(positive.select("context_id", "word_id", "ppmi"), shape,
                                   config.spark.partitions, width=width, work=work)
        # Materialise both, then free the tables: the SVD needs the memory and disk.
        matrix.count()
        transposed.count()
        positive.unpersist()
        pairs.unpersist()
        u, singular, _ = randomized_svd(
            matrix, transposed, rank, oversample=cfg.oversample,
            power_iterations=cfg.power_iterations, seed=cfg.seed,
        )
        matrix.unpersist()
        transposed.unpersist()
        FileSystem(work).delete(work)
        vectors = word_vectors(u, singular, cfg.eigenvalue_weight)
        if rank < cfg.vector_size:  # tiny vocabularies: pad, so every consumer sees vector_size
            vectors = np.pad(vectors, ((0, 0), (0, cfg.vector_size - rank)))
    with timer(f"{prefix}write" if prefix else "write"):
        describe(spark, "ppmi_svd: writing outputs")
        outputs = _write_common(spark, config, corpus, TrainedModel(vectors=vectors), output,
                                prefix)
    outputs.update({"cooccurrence": f"{prefix}cooccurrence/", "ppmi": f"{prefix}ppmi/"})
    total = float(np.sum(singular))
    section = {
        "ppmi_svd": {
            "distinct_pairs": pair_count,
            "ppmi_entries": entry_count,
            "density": entry_count / float(vocab_size) ** 2,
            "singular_values": {"first": float(singular[0]), "last": float(singular[-1]),
                                "sum": total},
            "rank": rank,
        }
    }
    return section, outputs


def versions() -> dict[str, str]:
    """Python and package versions of this process (with ``prefix``: which environment)."""
    found = {"python": platform.python_version(), "prefix": sys.prefix}
    for package in ("w2v_spark", "pyspark", "numpy", "scipy", "pyarrow"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "unknown"
    return found


def _versions_batch(batches):
    for _ in batches:
        pass
    yield pa.RecordBatch.from_pydict({"versions": [json.dumps(versions())]})


def executor_versions(spark: SparkSession, driver: dict[str, str]) -> dict[str, str]:
    """:func:`versions` as seen by an executor's Python worker (compared with ``driver``'s) — on a cluster, the environment
    shipped with ``--archives`` (``prefix`` under ``./environment``). A mismatch with the driver
    is logged: different NumPy builds can change the trained bits."""
    found = json.loads(spark.range(0, 1, 1, 1).mapInArrow(_versions_batch, "versions string")
                       .first()["versions"])
    differing = [k for k in ("python", "w2v_spark", "numpy", "scipy", "pyarrow")
                 if found.get(k) != driver[k]]
    if differing:
        log.warning("executors run different versions than the driver: %s",
                    ", ".join(f"{k} {found.get(k)} vs {driver[k]}" for k in differing))
    return found
