"""Command line: ``python -m w2v_spark train|ppmi|similar ...`` and the spark-submit entry points.

Exit codes: 0 ok, 1 internal error, 2 usage/config, 3 bad input data, 4 output problem.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from importlib import resources

from w2v_spark.errors import ConfigError, InputDataError, W2VError

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

    similar = commands.add_parser("similar", help="print nearest neighbours from trained embeddings")
    similar.add_argument("--embeddings", required=True, help="run directory or embeddings/ Parquet")
    similar.add_argument("--topn", type=int, default=8)
    similar.add_argument("words", nargs="+")
    return parser


def _train(args) -> int:
    from pyspark.sql import SparkSession

    from w2v_spark.config import PipelineConfig, load_config
    from w2v_spark.io import SCHEME
    from w2v_spark.pipeline import run
    from w2v_spark.session import build_session

    config = load_config(args.config, args.set)
    if args.command == "ppmi":
        config = dataclasses.replace(config, pipeline=PipelineConfig(methods=("ppmi_svd",)))
    config.sgns.resolved_kernel()  # a missing optional kernel is a config error, before Spark
    input_path = args.input or demo_corpus_path()
    if not SCHEME.match(input_path) and not os.path.exists(input_path):
        raise InputDataError(f"input {input_path} does not exist")  # before paying for a JVM
    owns_session = SparkSession.getActiveSession() is None
    spark = build_session(config.spark)
    try:
        manifest = run(spark, config, input_path, args.output)
    finally:
        if owns_session:
            spark.stop()
    done = f"done: {manifest['vocabulary']['size']} words in {args.output}"
    if "training" in manifest:
        done += f"; sgns final loss {manifest['training']['epochs'][-1]['loss_per_pair']:.4f} per pair"
    if "ppmi_svd" in manifest:
        done += f"; ppmi_svd from {manifest['ppmi_svd']['ppmi_entries']} PPMI entries"
    log.info(done)
    return 0


def _similar(args) -> int:
    from w2v_spark.embeddings import Embeddings

    embeddings = Embeddings.load(args.embeddings)
    for word in args.words:
        if word not in embeddings:
            print(f"{word}: not in the vocabulary")
            continue
        neighbours = ", ".join(f"{w} {s:.2f}" for w, s in embeddings.most_similar(word, topn=args.topn))
        print(f"{word}: {neighbours}")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        args = build_parser().parse_args(argv)
        return {"train": _train, "ppmi": _train, "similar": _similar}[args.command](args)
    except W2VError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - last line of defence: one line, then the details
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        log.error("internal error, details follow", exc_info=True)
        print(f"error: internal error: {type(err).__name__}: {first}", file=sys.stderr)
        return 1
