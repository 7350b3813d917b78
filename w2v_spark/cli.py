"""Command line: ``python -m w2v_spark train|ppmi|similar|evaluate|publish|export|import|neighbors|report``
and the spark-submit entry points.

Exit codes: 0 ok, 1 internal error, 2 usage/config, 3 bad input data, 4 output problem,
5 quality gate failed (``evaluate --require``).

One module (≈ 460 lines): the argument parser of every subcommand and the thin functions that
call the pipeline; what each command does lives in the modules it calls.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from importlib import resources
from pathlib import Path

from w2v_spark.errors import ConfigError, InputDataError, OutputError, W2VError
from w2v_spark.spark.resources import exception_chain

log = logging.getLogger("w2v_spark")

DEMO_CORPUS = "data/demo-en.txt.gz"


def demo_corpus_path() -> str:
    """The public-domain demo corpus shipped inside the package (≈ 0.7M words)."""
    return str(resources.files("w2v_spark").joinpath(DEMO_CORPUS))


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse exits 2 itself; keep our one-line format
        raise ConfigError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="w2v_spark", description="Word embeddings on Apache Spark.")
    parser.add_argument("--version", action="version", version=f"w2v_spark {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = commands.add_parser(
        "train", help="train embeddings from a text corpus ([pipeline] methods, default sgns)")
    ppmi = commands.add_parser(
        "ppmi", help="count-based embeddings only: co-occurrence → PPMI → SVD ([ppmi] knobs)")
    for job in (train, ppmi):
        job.add_argument("--config", help="TOML job config (default: built-in defaults)")
        job.add_argument("--input", help="corpus: text file(s), .gz ok, or Parquet "
                         "(default: the packaged demo corpus)")
        job.add_argument("--output", required=True, help="output directory (created atomically)")
        job.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                         help="override a config value, e.g. --set sgns.epochs=2 (repeatable)")
    # PPMI-SVD has no epochs to resume: only a train run that includes sgns has checkpoints.
    train.add_argument("--resume", action="store_true",
                       help="continue SGNS training after the newest checkpoint of --output "
                       "(refused if the config or vocabulary changed)")

    similar = commands.add_parser("similar", help="print nearest neighbours from trained embeddings")
    similar.add_argument("--embeddings", required=True, help="run directory or embeddings/ Parquet")
    similar.add_argument("--topn", type=int, default=8)
    similar.add_argument("words", nargs="+")

    evaluate = commands.add_parser(
        "evaluate", help="word-pair similarity and analogy benchmarks: a table on stdout and "
        "DIR/evaluation.json")
    evaluate.add_argument("--embeddings", required=True,
                          help="run directory (every method in it is evaluated) or embeddings/ Parquet")
    evaluate.add_argument("--pairs", action="append", metavar="FILE",
                          help="word1 word2 score file (repeatable; default: WordSim-353 and SimLex-999)")
    evaluate.add_argument("--analogies", action="append", metavar="FILE",
                          help="questions-words format file (repeatable; default: Google analogies)")
    evaluate.add_argument("--restrict", type=int, default=30000,
                          help="answer analogies among the N most frequent words (default 30000)")
    evaluate.add_argument("--method", choices=["3cosadd", "3cosmul"], default="3cosadd")
    where = evaluate.add_mutually_exclusive_group()
    where.add_argument("--output", metavar="FILE",
                       help="write the JSON report here (default: DIR/evaluation.json)")
    where.add_argument("--no-write", action="store_true",
                       help="print the table only; write no evaluation.json (e.g. a read-only run)")
    evaluate.add_argument("--require", action="append", default=[],
                          metavar="'[METHOD/]BENCHMARK.STAT>=X'",
                          help="quality gate, repeatable or comma-separated: exit 5 if not met, e.g. "
                          "--require 'wordsim353.spearman>=0.3,sgns/questions-words.accuracy>=0.05' "
                          "(quoted: > is a shell redirect; stats: spearman, pearson, accuracy, "
                          "semantic, syntactic, oov_ratio)")

    publish = commands.add_parser(
        "publish", help="point a JSON file at a finished, evaluated run (only moves forward)")
    publish.add_argument("--run", required=True, help="run directory (with _SUCCESS and evaluation.json)")
    publish.add_argument("--pointer", required=True, help="JSON file to (re)write, e.g. ROOT/LATEST.json")
    publish.add_argument("--label", help="orders publications, e.g. the run date (default: run dir name)")

    export = commands.add_parser("export", help="embeddings → word2vec text or binary file")
    export.add_argument("--embeddings", required=True)
    export.add_argument("--format", choices=["word2vec-text", "word2vec-binary"], default="word2vec-text")
    export.add_argument("--output", required=True, help="file to write")

    imp = commands.add_parser("import", help="word2vec text or binary file → embeddings Parquet")
    imp.add_argument("--input", required=True)
    imp.add_argument("--format", choices=["auto", "word2vec-text", "word2vec-binary"], default="auto")
    imp.add_argument("--output", required=True, help="directory to create (DIR/embeddings/)")

    neighbors = commands.add_parser(
        "neighbors", help="top-k neighbours of every word, blockwise in Spark → Parquet")
    neighbors.add_argument("--embeddings", required=True)
    neighbors.add_argument("--output", required=True, help="output directory (created atomically)")
    neighbors.add_argument("--topn", type=int, default=10)
    neighbors.add_argument("--words", help="comma-separated words to query (default: all)")
    neighbors.add_argument("--block-size", type=int, default=4096,
                           help="rows per block; a task holds two blocks and their product")
    neighbors.add_argument("--config", help="TOML job config ([spark] section is used)")
    neighbors.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    for job in (train, ppmi, neighbors):
        job.add_argument("--remote", metavar="sc://HOST:PORT",
                         help="run on this Spark Connect server (default: SPARK_REMOTE when set); "
                         "--output must be a path both this machine and the server reach")

    report = commands.add_parser("report", help="self-contained HTML report of a run → DIR/report/")
    report.add_argument("--run", required=True, help="run directory")
    report.add_argument("--words", help="comma-separated words for the neighbour lists")
    report.add_argument("--group", action="append", metavar="NAME=W1,W2,...",
                        help="a word group for the PCA map (repeatable; default: countries, "
                        "capitals, numbers, family terms)")
    return parser


def _train(args) -> int:
    from w2v_spark.config import PipelineConfig, load_config
    from w2v_spark.pipeline import run
    from w2v_spark.spark.files import SCHEME
    from w2v_spark.spark.session import spark_session

    config = load_config(args.config, _with_remote(args))
    if args.command == "ppmi":
        config = dataclasses.replace(config, pipeline=PipelineConfig(methods=("ppmi_svd",)))
    config.sgns.resolved_kernel()  # a missing optional kernel is a config error, before Spark
    input_path = args.input or demo_corpus_path()
    if not args.input:
        log.info("no --input: using the packaged demo corpus %s (≈ 0.7 M words of English)",
                 input_path)
    if not SCHEME.match(input_path) and not os.path.exists(input_path):
        raise InputDataError(f"input {input_path} does not exist")  # before paying for a JVM
    _check_output_directory(args.output, config.output.on_existing)
    with spark_session(config.spark) as spark:
        manifest = run(spark, config, input_path, args.output,
                       resume=getattr(args, "resume", False))
    done = f"done: {manifest['vocabulary']['size']} words in {args.output}"
    if "training" in manifest:
        done += f"; sgns final loss {manifest['training']['epochs'][-1]['loss_per_pair']:.4f} per pair"
    if "ppmi_svd" in manifest:
        done += f"; ppmi_svd from {manifest['ppmi_svd']['ppmi_entries']} PPMI entries"
    log.info(done)
    return 0


def _with_remote(args) -> list[str]:
    """``--set`` overrides, with ``--remote`` as ``spark.remote``."""
    return [*args.set, f"spark.remote={args.remote}"] if args.remote else list(args.set)


def _similar(args) -> int:
    from w2v_spark.vectors.embeddings import Embeddings, find_methods

    methods = find_methods(args.embeddings)
    for method, location in methods.items():
        embeddings = Embeddings.load(location)
        lowercase = _trained_lowercase(location)
        if len(methods) > 1:  # a run with several methods: each one's neighbours in turn
            print(f"[{method}]")
        for word in args.words:
            if lowercase:  # the query as training saw the corpus
                word = word.lower()
            if word not in embeddings:
                print(f"{word}: not in the vocabulary")
                continue
            found = embeddings.most_similar(word, topn=args.topn)
            print(f"{word}: " + ", ".join(f"{w} {s:.2f}" for w, s in found))
    return 0


def _trained_lowercase(location) -> bool:
    """Whether the run at ``location`` (a run or method directory) lower-cased its corpus: its
    manifest's ``tokenize.lowercase``; False for vectors without one (imported files)."""
    import json

    for directory in (Path(location), Path(location).parent):
        manifest = directory / "_manifest.json"
        if manifest.is_file():
            config = json.loads(manifest.read_text()).get("config", {})
            return bool(config.get("tokenize", {}).get("lowercase", False))
    return False


def _evaluate(args) -> int:
    import json

    from w2v_spark.errors import QualityGateError
    from w2v_spark.vectors.embeddings import Embeddings, find_methods
    from w2v_spark.vectors.evaluation import (
        DEFAULT_ANALOGIES,
        DEFAULT_PAIRS,
        Requirement,
        check_requirement_names,
        check_requirements,
        evaluate,
        packaged,
        summary_table,
    )

    for name in (args.pairs or []) + (args.analogies or []):
        if not os.path.isfile(name):
            raise InputDataError(f"benchmark file {name} does not exist")
    if args.restrict < 1:
        raise ConfigError(f"--restrict must be ≥ 1, got {args.restrict}")
    methods = find_methods(args.embeddings)
    try:
        requirements = [Requirement.parse(text) for item in args.require
                        for text in item.split(",") if text.strip()]
        # Names are checked before the (slow) evaluation, not after it.
        check_requirement_names(requirements, methods,
                                args.pairs or [packaged(n) for n in DEFAULT_PAIRS],
                                args.analogies or [packaged(n) for n in DEFAULT_ANALOGIES])
    except ValueError as err:
        raise ConfigError(str(err)) from None
    target = None
    if not args.no_write:
        root = Path(args.embeddings)
        target = (Path(args.output) if args.output else
                  (root.parent if root.name == "embeddings" else root) / "evaluation.json")
        _check_writable_file(target, "--output FILE or --no-write")
    reports = {}
    for method, location in methods.items():
        try:
            reports[method] = evaluate(Embeddings.load(location), args.pairs, args.analogies,
                                       restrict=args.restrict, method=args.method)
        except ValueError as err:
            raise InputDataError(f"evaluating {method}: {err}") from None
    print(summary_table(reports), flush=True)
    if target is not None:
        _write_text_atomically(target, json.dumps(reports, indent=2, sort_keys=True) + "\n")
        log.info("evaluation written to %s", target)
    failures = check_requirements(reports, requirements)
    if failures:
        raise QualityGateError("quality gate failed: " + "; ".join(failures))
    if requirements:
        log.info("quality gate passed: %s", ", ".join(r.text for r in requirements))
    return 0


def _check_output_directory(output: str, on_existing: str) -> None:
    """What the job's own check (``io.Output.check``) will refuse, checked before a JVM starts
    (≈ 5 s) for a local output: it exists (and may not be replaced), or its parent is missing or
    not writable. Other file systems are checked by the job."""
    from w2v_spark.spark.files import SCHEME

    if SCHEME.match(output):
        return
    target = Path(output).absolute()
    if target.exists() and on_existing == "fail":
        raise OutputError(f"output {target} already exists; remove it or rerun with "
                          "--set output.on_existing=overwrite")
    parent = next(p for p in target.parents if p.exists())
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"output {target} is not writable: {parent} is not a writable directory")


def _check_writable_file(target, instead: str = "") -> None:
    """Fail early (exit 4) when the file ``target`` cannot be created or replaced: a missing or
    unwritable directory, or a directory in its place. ``instead``: what to suggest."""
    directory = target.parent
    hint = f"; use {instead}" if instead else ""
    if target.is_dir():
        raise OutputError(f"output {target} is a directory{hint}")
    if not directory.is_dir():
        raise OutputError(f"output {target}: directory {directory} does not exist{hint}")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise OutputError(f"output {target} is not writable: no write permission on "
                          f"{directory}{hint}")


def _write_text_atomically(target, text: str) -> None:
    """``text`` into ``target`` through a hidden temporary file and a rename; an OSError (a full
    or read-only file system) is an output error, and no temporary file is left."""
    partial = target.with_name(f".{target.name}.partial")
    try:
        partial.write_text(text)
        os.replace(partial, target)
    except OSError as err:
        partial.unlink(missing_ok=True)
        raise OutputError(f"cannot write {target}: {err.strerror or err}") from None


def _publish(args) -> int:
    from w2v_spark.vectors.publish import publish

    pointer = Path(args.pointer).absolute()
    existing = next(p for p in (pointer.parent, *pointer.parents) if p.exists())
    if existing != pointer.parent or pointer.is_dir():  # publish creates missing directories
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise OutputError(f"cannot write the pointer {pointer}: {existing} is not writable")
    else:
        _check_writable_file(pointer)
    publish(args.run, args.pointer, args.label)
    return 0


def _export(args) -> int:
    from w2v_spark.vectors.embeddings import Embeddings
    from w2v_spark.vectors.word2vec_format import write

    embeddings = Embeddings.load(args.embeddings)
    target = Path(args.output).absolute()
    _check_writable_file(target)
    try:
        write(target, embeddings.words, embeddings.vectors, args.format)
    except OSError as err:
        raise OutputError(f"cannot write {target}: {err.strerror or err}") from None
    log.info("%d vectors written to %s (%s)", len(embeddings), args.output, args.format)
    return 0


def _import(args) -> int:
    from w2v_spark.vectors.word2vec_format import import_file

    if not os.path.isfile(args.input):
        raise InputDataError(f"input {args.input} does not exist")
    if os.path.exists(args.output):
        raise OutputError(f"output {args.output} already exists")
    _check_writable_file(Path(args.output).absolute())
    try:
        count = import_file(args.input, args.output, args.format)
    except (ValueError, UnicodeDecodeError) as err:
        raise InputDataError(f"input {args.input}: {err}") from None
    except OSError as err:
        raise OutputError(f"cannot write {args.output}: {err.strerror or err}") from None
    log.info("%d vectors imported into %s", count, args.output)
    return 0


def _neighbors(args) -> int:
    from w2v_spark.config import load_config
    from w2v_spark.spark.files import Output, qualify
    from w2v_spark.spark.session import spark_session
    from w2v_spark.vectors.embeddings import find_methods
    from w2v_spark.vectors.neighbors import nearest_neighbors

    config = load_config(args.config, _with_remote(args))
    if args.topn < 1 or args.block_size < 1:
        raise ConfigError("--topn and --block-size must be ≥ 1")
    locations = find_methods(args.embeddings)
    if len(locations) > 1:
        raise ConfigError(f"{args.embeddings} holds several methods; pass one of "
                          f"{sorted(str(p) for p in locations.values())}")
    path = next(iter(locations.values()))
    path = path / "embeddings" if (path / "embeddings").is_dir() else path
    words = [w.strip() for w in args.words.split(",") if w.strip()] if args.words else None
    _check_output_directory(args.output, config.output.on_existing)
    if words:
        import pyarrow.parquet as pq

        known = set(pq.read_table(path, columns=["word"]).column("word").to_pylist())
        if missing := [w for w in words if w not in known]:
            log.warning("neighbors: not in the vocabulary, no rows for: %s", ", ".join(missing))
    with spark_session(config.spark) as spark:
        output = Output(args.output, config.output.on_existing)
        output.check()
        try:
            result = nearest_neighbors(spark, spark.read.parquet(qualify(str(path))),
                                       topn=args.topn, block_size=args.block_size, words=words)
            result.sortWithinPartitions("word", "rank").write.parquet(output.path("neighbors"))
            output.commit()
        except BaseException:
            output.abort()
            raise
    return 0


def _report(args) -> int:
    from w2v_spark.vectors.report import write_report

    words = [w.strip() for w in args.words.split(",")] if args.words else None
    groups = {}
    for item in args.group or []:
        name, sep, members = item.partition("=")
        if not sep or not name.strip() or not members.strip():
            raise ConfigError(f"--group {item!r}: expected NAME=word1,word2,...")
        groups[name.strip()] = [w.strip() for w in members.split(",") if w.strip()]
    page = write_report(args.run, words=words, groups=groups or None)
    log.info("report written to %s", page)
    return 0


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("w2v_spark")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _ours_or_a_warning(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING or record.name.split(".")[0] in ("w2v_spark", "__main__")


def _interrupted(args) -> int:
    hint = ""
    if getattr(args, "command", None) == "train":
        hint = ("; nothing was published. Rerun the same command with --resume to continue "
                "after the last finished epoch")
    print(f"error: interrupted{hint}", file=sys.stderr)
    return 130


def _caused_by_an_interrupt(err: BaseException) -> bool:
    return any(isinstance(e, KeyboardInterrupt) for e in exception_chain(err))


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # The log shows our progress and everyone's warnings. The libraries below us log at INFO
    # every connection they close, and a traceback per call to a JVM that died: noise around
    # the one line that says what happened.
    for handler in logging.getLogger().handlers:
        if _ours_or_a_warning not in handler.filters:  # main() may run many times in a process
            handler.addFilter(_ours_or_a_warning)
    args = None
    try:
        args = build_parser().parse_args(argv)
        commands = {"train": _train, "ppmi": _train, "similar": _similar, "evaluate": _evaluate,
                    "publish": _publish, "export": _export, "import": _import,
                    "neighbors": _neighbors, "report": _report}
        return commands[args.command](args)
    except W2VError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except FileNotFoundError as err:  # embeddings or benchmark files named on the command line
        print(f"error: {err}", file=sys.stderr)
        return InputDataError.exit_code
    except KeyboardInterrupt:
        return _interrupted(args)
    except Exception as err:  # noqa: BLE001 - last line of defence: one line, then the details
        if _caused_by_an_interrupt(err):
            # Ctrl-C inside a call to the JVM: the gateway client, cancelling the call, raised
            # an error of its own while handling the KeyboardInterrupt.
            return _interrupted(args)
        try:  # a Java exception asks its JVM for its text, and that JVM may be gone
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        except Exception:  # noqa: BLE001
            first = "(no message: its JVM is gone)"
        log.error("internal error, details follow", exc_info=True)
        print(f"error: internal error: {type(err).__name__}: {first}", file=sys.stderr)
        return 1
