"""Reading a corpus: text files (plain or compressed, a file or a directory read recursively) or
a Parquet column, as a DataFrame of lines; what is read is logged."""

from __future__ import annotations

import logging
from urllib.parse import urlparse

from pyspark.sql import DataFrame, SparkSession

from w2v_spark.config import InputConfig
from w2v_spark.errors import InputDataError
from w2v_spark.spark.files import FileSystem

log = logging.getLogger(__name__)


def read_lines(spark: SparkSession, path: str, config: InputConfig) -> tuple[DataFrame, str, int]:
    """Open the corpus at ``path`` as a DataFrame with one string column.

    Text files (optionally .gz/.bz2, or a directory of them) give one row per line; Parquet gives
    the column ``config.column``. Returns ``(lines, column name, bytes read)``.
    """
    fs = FileSystem(path)
    if not fs.exists(path):
        raise InputDataError(f"input {path} does not exist")
    fmt = config.format
    if fmt == "auto":
        fmt = "parquet" if path.rstrip("/").endswith(".parquet") or _has_parquet(fs, path) else "text"
    if fmt == "text":
        # A directory is read with its subdirectories (Spark alone would take their names for
        # partition columns, or refuse the mix of files and directories).
        lines = spark.read.option("recursiveFileLookup", "true").text(path)
        return lines, "value", _log_files(fs, path, lines)
    lines = spark.read.parquet(path)
    size = _log_files(fs, path, lines)
    if config.column not in lines.columns:
        raise InputDataError(
            f"input {path} has no column {config.column!r} (columns: {', '.join(lines.columns)}); "
            "set input.column"
        )
    if dict(lines.dtypes)[config.column] != "string":
        raise InputDataError(f"input column {config.column!r} must be a string column")
    return lines.select(config.column), config.column, size


def _log_files(fs: FileSystem, path: str, lines: DataFrame) -> int:
    """Say what the job reads: how many files, how many bytes, and how many of the files sit in
    subdirectories of a directory input. Returns the bytes."""
    files = lines.inputFiles()
    size = fs.size(path)
    nested = 0
    if fs.is_dir(path):
        root = urlparse(path).path.rstrip("/")
        nested = sum(1 for f in files if "/" in urlparse(f).path[len(root):].strip("/"))
    log.info("input: %d file(s), %.1f MB%s", len(files), size / 1e6,
             f", {nested} of them in subdirectories (read recursively)" if nested else "")
    return size


def _has_parquet(fs: FileSystem, path: str) -> bool:
    """A directory holding ``*.parquet`` files (as Spark writes them)."""
    return any(name.endswith(".parquet") for name in fs.list_names(path))
