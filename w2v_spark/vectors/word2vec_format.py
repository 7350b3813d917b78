"""The vectors' file formats, without Spark: our Parquet table's layout (:func:`embeddings_table`)
and the word2vec text and binary formats, both ways.

Text: a ``vocab_size vector_size`` header line, then ``word v1 … vd`` per line.
Binary: the same header, then per word ``word`` + one space + ``vector_size`` little-endian float32
values + a newline (what word2vec's C tool and gensim write; gensim reads both).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from w2v_spark.corpus.vocab import word_strings
from w2v_spark.schemas import EMBEDDINGS, arrow_schema
from w2v_spark.spark.files import FileSystem

FORMATS = ("word2vec-text", "word2vec-binary")


def embeddings_table(words: Sequence[str] | pa.StringArray, counts: np.ndarray, vectors: np.ndarray,
                     first_id: int = 0) -> pa.Table:
    """Arrow table in the ``schemas.EMBEDDINGS`` layout; row ``i`` is word id ``first_id + i``.

    Args:
        words: the vocabulary's words of those ids, in id order (Python strings or an Arrow
            array of them).
        counts: ``(rows,) int64``.
        vectors: ``(rows, vector_size) float32``.
    """
    vocab_size, vector_size = vectors.shape
    offsets = pa.array(np.arange(0, (vocab_size + 1) * vector_size, vector_size, dtype=np.int32))
    values = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).ravel())
    return pa.table(
        {
            "word": pa.array(words, type=pa.string()),
            "id": pa.array(np.arange(first_id, first_id + vocab_size, dtype=np.int32)),
            "count": pa.array(np.asarray(counts, dtype=np.int64)),
            "vector": pa.ListArray.from_arrays(offsets, values),
        }
    )


def embeddings_part(output: str, part: int, words: Sequence[str] | pa.StringArray, counts: np.ndarray,
                    vectors: np.ndarray, first_id: int) -> None:
    """File ``part`` of the ``embeddings/`` directory ``output``: the rows of ids ``first_id`` ..
    ``first_id + len(words) - 1`` (``schemas.EMBEDDINGS``), as
    ``part-<part>.snappy.parquet``. Whoever writes it (an executor, or the driver when it holds
    the model), the same rows give the same bytes; it appears whole or not at all."""
    fs = FileSystem(output)
    table = embeddings_table(words, counts, vectors, first_id)
    partial = f"{output}/.part-{part:05d}.partial"
    with fs.open_output(partial) as stream:
        pq.write_table(table.cast(arrow_schema(EMBEDDINGS)), stream, compression="snappy")
    fs.rename(partial, f"{output}/part-{part:05d}.snappy.parquet")


def word2vec_text(words: Sequence[str] | pa.StringArray, vectors: np.ndarray,
                  chunk_rows: int = 4096) -> Iterator[bytes]:
    """The word2vec text format (header ``vocab_size vector_size``, then ``word v1 … vd``), in
    UTF-8 chunks. Floats are written with 9 significant digits, which round-trips float32.
    ``words``: in id order, Python strings or an Arrow array of them."""
    vocab_size, vector_size = vectors.shape
    yield f"{vocab_size} {vector_size}\n".encode()
    for start in range(0, vocab_size, chunk_rows):
        block = vectors[start : start + chunk_rows]
        lines = [
            word + " " + " ".join(format(x, ".9g") for x in row.tolist())
            for word, row in zip(word_strings(words[start : start + chunk_rows]), block, strict=True)
        ]
        yield ("\n".join(lines) + "\n").encode("utf-8")


def word2vec_text_of(embeddings: str, batch_rows: int = 4096) -> Iterator[bytes]:
    """:func:`word2vec_text` of the ``schemas.EMBEDDINGS`` Parquet directory ``embeddings``
    (its ``part-*.parquet`` files in name order, which is id order), a batch of rows at a
    time: the vectors are never all in memory."""
    fs = FileSystem(embeddings)
    paths = [f"{embeddings}/{name}" for name in fs.list_names(embeddings)
             if name.startswith("part-") and name.endswith(".parquet")]
    files = [pq.ParquetFile(fs.open_input(path)) for path in paths]
    rows = sum(f.metadata.num_rows for f in files)
    dim = None
    for parquet in files:
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=["word", "vector"]):
            vectors = batch.column("vector")
            values = vectors.values.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
            if dim is None:
                dim = values.size // max(batch.num_rows, 1)
                yield f"{rows} {dim}\n".encode()
            words = batch.column("word").to_pylist()
            chunks = word2vec_text(words, values.reshape(batch.num_rows, dim), batch_rows)
            next(chunks)  # its header
            yield from chunks
    if dim is None:  # no rows
        yield b"0 0\n"


def word2vec_binary(words: list[str], vectors: np.ndarray, chunk_rows: int = 4096) -> Iterator[bytes]:
    """The binary format in chunks. ``vectors``: ``(vocab_size, vector_size)``, stored as float32."""
    vocab_size, vector_size = vectors.shape
    yield f"{vocab_size} {vector_size}\n".encode()
    little = np.ascontiguousarray(vectors, dtype="<f4")
    for start in range(0, vocab_size, chunk_rows):
        yield b"".join(
            word.encode("utf-8") + b" " + little[i].tobytes() + b"\n"
            for i, word in enumerate(words[start : start + chunk_rows], start=start)
        )


def write(path: str | Path, words: list[str], vectors: np.ndarray, fmt: str) -> None:
    """Write ``path`` atomically (a temporary file beside it, renamed when complete)."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    chunks = word2vec_text(words, vectors) if fmt == "word2vec-text" else word2vec_binary(words, vectors)
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    try:
        with open(partial, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _is_binary(path: Path) -> bool:
    with open(path, "rb") as f:
        f.readline()
        sample = f.read(4096)
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as err:
        return err.start < len(sample) - 4  # not merely a character cut at the sample's end
    return b"\x00" in sample


def read(path: str | Path, fmt: str = "auto") -> tuple[list[str], np.ndarray]:
    """Read a word2vec file: ``(words, vectors (vocab_size, vector_size) float32)``.

    ``fmt``: ``"word2vec-text"``, ``"word2vec-binary"`` or ``"auto"`` (binary if the body is not
    UTF-8 text). Raises ``ValueError`` naming the line on malformed input.
    """
    path = Path(path)
    binary = _is_binary(path) if fmt == "auto" else fmt == "word2vec-binary"
    with open(path, "rb") as f:
        header = f.readline().split()
        try:
            vocab_size, vector_size = int(header[0]), int(header[1])
        except (IndexError, ValueError):
            raise ValueError(f"{path}: first line must be 'vocab_size vector_size'") from None
        words: list[str] = []
        vectors = np.empty((vocab_size, vector_size), dtype=np.float32)
        for i in range(vocab_size):
            if binary:
                word = bytearray()
                while (ch := f.read(1)) != b" ":
                    if not ch:
                        raise ValueError(f"{path}: ends after {i} of {vocab_size} vectors")
                    if ch != b"\n":  # the previous vector's trailing newline
                        word += ch
                data = f.read(4 * vector_size)
                if len(data) < 4 * vector_size:
                    raise ValueError(f"{path}: ends inside the vector of word {i + 1}")
                vectors[i] = np.frombuffer(data, dtype="<f4")
                words.append(word.decode("utf-8"))
            else:
                parts = f.readline().decode("utf-8").rstrip().split(" ")
                if len(parts) != vector_size + 1:
                    raise ValueError(
                        f"{path}: line {i + 2} has {len(parts) - 1} values, expected {vector_size}")
                words.append(parts[0])
                vectors[i] = np.array(parts[1:], dtype=np.float32)
    return words, vectors


def import_file(source: str | Path, target: str | Path, fmt: str = "auto") -> int:
    """A word2vec file → ``target/embeddings/`` Parquet in our schema (ids in file order, counts
    0: the format does not carry them). Returns the number of words."""
    words, vectors = read(source, fmt)
    target = Path(target)
    if target.exists():
        raise FileExistsError(f"{target} already exists")
    staging = target.with_name(f".{target.name}.partial")
    try:
        (staging / "embeddings").mkdir(parents=True)
        pq.write_table(embeddings_table(words, np.zeros(len(words), dtype=np.int64), vectors),
                       staging / "embeddings" / "part-00000.parquet")
        (staging / "_SUCCESS").write_bytes(b"")
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return len(words)
