"""Files and outputs: the file system of a path (``pyarrow.fs``: local disks, HDFS, object
stores, with or without a JVM in this process) and an output directory committed atomically.
"""

from __future__ import annotations

import json
import logging
import os
import re
import uuid
from collections.abc import Iterator
from urllib.parse import urlparse

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs

from w2v_spark.errors import OutputError
from w2v_spark.schemas import EMBEDDINGS, arrow_schema

log = logging.getLogger(__name__)

SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def qualify(path: str) -> str:
    """Local paths become absolute (Spark and Hadoop resolve relative ones differently)."""
    return path if SCHEME.match(path) else os.path.abspath(path)


class FileSystem:
    """The file system of one path's scheme, through ``pyarrow.fs``: local disks, HDFS (libhdfs,
    as Spark's own Python tools use it), S3 (``s3://`` and Hadoop's ``s3a://``), GCS and Azure.

    No JVM is involved, so the same calls work in a classic session, in a Spark Connect session
    (where there is no JVM in this process), and after a JVM ran out of memory. Object stores take
    their credentials from their SDKs' usual chain (environment, instance profile), not from
    Hadoop's ``core-site.xml``.
    """

    def __init__(self, path: str):
        uri = _pyarrow_uri(path)
        try:
            self._fs, _ = pafs.FileSystem.from_uri(uri)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
            raise OutputError(f"{path}: no file system for this scheme in pyarrow.fs "
                              f"({_first_line(err)})") from None
        #: The driver's own disk.
        self.local = isinstance(self._fs, pafs.LocalFileSystem)

    def _path(self, path: str) -> str:
        """``path`` as ``pyarrow.fs`` names it inside its file system."""
        parsed = urlparse(path)
        if self.local or not SCHEME.match(path):
            return parsed.path if SCHEME.match(path) else path
        if parsed.scheme in ("hdfs", "viewfs"):
            return parsed.path
        return parsed.netloc.split("@")[0] + parsed.path  # bucket or container, then the key

    def os_path(self, path: str) -> str | None:
        """``path`` as this machine's OS names it, on a local disk; else None."""
        return self._path(path) if self.local else None

    def _info(self, path: str) -> pafs.FileInfo:
        return self._fs.get_file_info(self._path(path))

    def exists(self, path: str) -> bool:
        return self._info(path).type != pafs.FileType.NotFound

    def is_dir(self, path: str) -> bool:
        return self._info(path).type == pafs.FileType.Directory

    def size(self, path: str) -> int:
        """Bytes under ``path`` (a file, or a directory with everything below it)."""
        info = self._info(path)
        if info.type != pafs.FileType.Directory:
            return int(info.size or 0)
        below = self._fs.get_file_info(pafs.FileSelector(self._path(path), recursive=True))
        return sum(int(entry.size or 0) for entry in below if entry.type == pafs.FileType.File)

    def mkdirs(self, path: str) -> None:
        try:
            self._fs.create_dir(self._path(path), recursive=True)
        except OSError as err:
            raise OutputError(f"cannot create directory {path}: {_first_line(err)}") from None

    def rename(self, source: str, target: str) -> None:
        try:
            self._fs.move(self._path(source), self._path(target))
        except OSError as err:
            raise OutputError(f"cannot rename {source} to {target}: {_first_line(err)}") from None

    def delete(self, path: str) -> None:
        """Delete a file or a directory with everything below it; nothing if it is not there."""
        info = self._info(path)
        if info.type == pafs.FileType.Directory:
            self._fs.delete_dir(self._path(path))
        elif info.type != pafs.FileType.NotFound:
            self._fs.delete_file(self._path(path))

    def list_names(self, path: str) -> list[str]:
        """Names of the entries directly under ``path`` (empty if it does not exist)."""
        if not self.is_dir(path):
            return []
        return sorted(entry.base_name for entry in
                      self._fs.get_file_info(pafs.FileSelector(self._path(path))))

    def read_bytes(self, path: str) -> bytes:
        with self._fs.open_input_stream(self._path(path)) as stream:
            return stream.read()

    def open_input(self, path: str) -> pa.NativeFile:
        """``path`` opened for reading at any offset (``read_at``)."""
        return self._fs.open_input_file(self._path(path))

    def write_bytes(self, path: str, chunks: Iterator[bytes]) -> None:
        """Write ``chunks`` to ``path`` (replacing it; parent directories are created)."""
        if self.local:
            _write_file(self._path(path), chunks)
            return
        with self.open_output(path) as stream:
            for chunk in chunks:
                stream.write(chunk)

    def open_output(self, path: str) -> pa.NativeFile:
        """A new file at ``path`` to write to (replacing it; parent directories are created)."""
        inner = self._path(path)
        self._fs.create_dir(inner.rsplit("/", 1)[0], recursive=True)
        return self._fs.open_output_stream(inner)


def _pyarrow_uri(path: str) -> str:
    """``path`` as ``pyarrow.fs.FileSystem.from_uri`` takes it: Hadoop's ``s3a://`` is S3's
    ``s3://``, Spark's ``file:/x`` a local path."""
    parsed = urlparse(path)
    if not SCHEME.match(path) or parsed.scheme == "file":
        return parsed.path if SCHEME.match(path) else os.path.abspath(path)
    if parsed.scheme in ("s3a", "s3n"):
        return "s3://" + path.split("://", 1)[1]
    return path


def _write_file(target: str, chunks: Iterator[bytes]) -> str:
    """``chunks`` into the local file ``target`` (parents created); returns ``target``.

    An existing file is overwritten in place (then cut to the new length) rather than truncated
    first: the pages it holds in the page cache take the new bytes instead of freshly allocated
    ones (see :meth:`w2v_spark.sgns.checkpoint.Checkpoints.save`)."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "r+b" if os.path.isfile(target) else "wb") as stream:
        for chunk in chunks:
            stream.write(chunk)
        stream.truncate()
    return target


class Output:
    """An output directory committed atomically.

    Everything is written under a hidden staging directory beside the target
    (``.<name>._staging-<run id>``); :meth:`commit` writes ``_SUCCESS`` into it and renames it into
    place. With ``on_existing = "overwrite"`` the previous result is first renamed aside and
    deleted only after the new one is in place. :meth:`abort` deletes the staging directory.
    On object stores rename is a copy, so there the commit is not atomic (see README).
    """

    def __init__(self, target: str, on_existing: str):
        self.target = qualify(target).rstrip("/")
        self.fs = FileSystem(self.target)
        self.on_existing = on_existing
        self.run_id = uuid.uuid4().hex[:12]
        parent, name = self.target.rsplit("/", 1)
        self.staging = f"{parent}/.{name}._staging-{self.run_id}"
        self._aside = f"{parent}/.{name}._previous-{self.run_id}"
        self._parent = parent

    def check(self) -> None:
        """Fail early: target exists (and may not be replaced), or the parent is not writable."""
        if self.fs.exists(self.target) and self.on_existing == "fail":
            raise OutputError(
                f"output {self.target} already exists; remove it or rerun with "
                "--set output.on_existing=overwrite"
            )
        try:
            self.fs.mkdirs(self.staging)
            probe = f"{self.staging}/_probe"
            self.fs.write_bytes(probe, iter([b"ok"]))
            self.fs.delete(probe)
        except (OSError, OutputError) as err:
            self.abort()
            raise OutputError(f"output {self.target} is not writable: {_first_line(err)}") from None

    def path(self, name: str) -> str:
        return f"{self.staging}/{name}"

    def write_json(self, name: str, content: dict) -> None:
        text = json.dumps(content, indent=2, sort_keys=True, default=_json_default) + "\n"
        self.fs.write_bytes(self.path(name), iter([text.encode("utf-8")]))

    def write_chunks(self, name: str, chunks: Iterator[bytes]) -> None:
        self.fs.write_bytes(self.path(name), chunks)

    def commit(self) -> None:
        self.fs.write_bytes(self.path("_SUCCESS"), iter([b""]))
        replaced = self.fs.exists(self.target)
        if replaced:
            if self.on_existing != "overwrite":
                raise OutputError(f"output {self.target} appeared while the job ran; not replacing it")
            self.fs.rename(self.target, self._aside)
        self.fs.rename(self.staging, self.target)
        if replaced:
            self.fs.delete(self._aside)
        log.info("output committed to %s", self.target)

    def abort(self) -> None:
        try:
            self.fs.delete(self.staging)
        except OSError:  # best effort on the way out of a failure
            log.warning("could not delete staging directory %s", self.staging)


def write_table(table: pa.Table, path: str, schema=EMBEDDINGS) -> None:
    """A driver-side Arrow table as the Parquet directory ``path``: one file,
    ``part-00000.snappy.parquet``, rows in order, then ``_SUCCESS`` (what Spark writes, and
    Spark, pandas and DuckDB read it alike). Written by pyarrow: the rows never enter the JVM,
    where a task carrying them (40 MB for 100,000 words × 100 dims) exhausted a 512 MB driver
    heap and left the job hanging."""
    import pyarrow.parquet as pq  # here: the training tasks import FileSystem, not Parquet

    fs = FileSystem(path)
    with fs.open_output(f"{path}/part-00000.snappy.parquet") as stream:
        pq.write_table(table.cast(arrow_schema(schema)), stream, compression="snappy")
    fs.write_bytes(f"{path}/_SUCCESS", iter([b""]))


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
