"""Where the model's rows live between the stages of executor-resident training
(:mod:`w2v_spark.sgns.resident`), and the files that carry them and the blocks (NumPy and
``pyarrow.fs`` only: no Spark).

The model is never whole in one place. After each stage every trainer writes one *slice file*:
its rows of both matrices, grouped by the trainer that holds them in the next stage (a
:class:`Layout` says who holds which rows), so the next stage's trainers read just their
segments, from just the files that hold some of their rows. The same files, grouped by ranges of
word ids (:class:`IdRanges`), are the model at the start of the run, after the run, and in a
checkpoint.

A *block file* is one map task's windows of one epoch, written as they are cut, in runs of a
bounded size: one segment per (stage, trainer) and run, read by that trainer alone.
"""

from __future__ import annotations

import uuid

import numpy as np

from w2v_spark.sgns.kernel import Windows
from w2v_spark.sgns.strata import Deal, unpack_block
from w2v_spark.spark.files import FileSystem

# Model matrices, as the slice files number them.
INPUT, OUTPUT = 0, 1
_SLICE_MAGIC = 0x57325653_4C494345  # "W2VSLICE"
_BLOCK_MAGIC = 0x57325653_424C4B53  # "W2VSBLKS"


def initial_rows(lo: int, hi: int, vector_size: int, seed: int) -> np.ndarray:
    """Rows ``[lo, hi)`` of word2vec's start for the input vectors: uniform in
    ``±0.5 / vector_size``, ``(hi - lo, vector_size) float32``.

    The values are those of one generator drawing the whole ``(vocab_size, vector_size)`` matrix
    row after row, whoever draws which rows: the generator (PCG64) is advanced to row ``lo``
    instead of drawing the rows before it. Each draw of a float32 takes half of one 64-bit step."""
    generator = np.random.PCG64(np.random.SeedSequence([seed, 0x5EED]))
    first = lo * vector_size
    generator.advance(first // 2)
    draw = np.random.Generator(generator)
    if first % 2:
        draw.random(1, dtype=np.float32)  # the other half of the step row lo starts in
    return (draw.random((hi - lo, vector_size), dtype=np.float32) - 0.5) / vector_size


class Layout:
    """Which trainer holds which rows of each matrix, among ``parts`` trainers."""

    parts: int

    def holders(self, kind: int, words: np.ndarray) -> np.ndarray:
        """``(len(words),) int64``: the trainer holding each of ``words``' rows of ``kind``."""
        raise NotImplementedError

    def words(self, kind: int, trainer: int) -> np.ndarray:
        """``(k,) int32``, ascending: the rows of ``kind`` that ``trainer`` holds."""
        raise NotImplementedError


class IdRanges(Layout):
    """Trainer ``t`` holds the rows of ids ``[t·V // parts, (t + 1)·V // parts)`` of both
    matrices: the layout of the model at the run's start and end, and of a checkpoint."""

    def __init__(self, vocab_size: int, parts: int):
        self.parts = parts
        self.bounds = np.arange(parts + 1, dtype=np.int64) * vocab_size // parts

    def holders(self, kind, words):
        return np.searchsorted(self.bounds, words, side="right") - 1

    def words(self, kind, trainer):
        return np.arange(self.bounds[trainer], self.bounds[trainer + 1], dtype=np.int32)


class StratumLayout(Layout):
    """Stratum ``stratum`` of a round dealt by ``deal``: trainer ``b`` holds the output rows of
    bucket ``b`` and the input rows of bucket ``(b + stratum) mod P``
    (:func:`w2v_spark.sgns.stratum.slice_words`)."""

    def __init__(self, deal: Deal, stratum: int, parts: int):
        self.deal, self.stratum, self.parts = deal, stratum, parts

    def holders(self, kind, words):
        bucket = self.deal.bucket[words].astype(np.int64)
        return bucket if kind == OUTPUT else (bucket - self.stratum) % self.parts

    def words(self, kind, trainer):
        bucket = trainer if kind == OUTPUT else (trainer + self.stratum) % self.parts
        return self.deal.words(bucket)


def part_path(directory: str, part: int) -> str:
    """Trainer's (slice files) or data partition's (block files) file ``part`` in ``directory``."""
    return f"{directory}/part-{part:05d}.bin"


def sources(previous: Layout, words: tuple[np.ndarray, np.ndarray]) -> list[int]:
    """The trainers of ``previous`` that hold some of ``words`` (one id array per matrix, or
    None for a matrix not wanted)."""
    found = [previous.holders(kind, ids) for kind, ids in enumerate(words) if ids is not None]
    return sorted(int(t) for t in np.unique(np.concatenate(found)))


def _commit(fs: FileSystem, path: str, chunks) -> None:
    """Write ``path`` whole or not at all: a reader (the next stage) never sees a part of it,
    and a task attempt still writing when another has finished cannot spoil it."""
    partial = f"{path}.{uuid.uuid4().hex[:8]}.partial"
    try:
        fs.write_bytes(partial, iter(chunks))
    except BaseException:
        if fs.exists(partial):  # the chunks may be computed as they are written, and fail
            fs.delete(partial)
        raise
    fs.rename(partial, path)


def write_slices(fs: FileSystem, path: str, following: Layout, words, values) -> None:
    """A trainer's rows as the slice file ``path``, grouped by their holders in ``following``.

    ``words``: ``(input ids, output ids)``, each ascending int32; ``values``: the matching
    ``(k, dim) float32`` rows. File: an int64 header (magic, targets T, dim, rows of each
    matrix, then per matrix the ``T + 1`` row offsets of the targets' segments), the ids (int32)
    of both matrices, then their rows (float32), each matrix's rows ordered by (target, id)."""
    dim = values[0].shape[1]
    header = [_SLICE_MAGIC, following.parts, dim, words[0].size, words[1].size]
    ordered_ids, ordered_rows = [], []
    for kind in (INPUT, OUTPUT):
        holder = following.holders(kind, words[kind])
        order = np.argsort(holder, kind="stable")  # ids stay ascending within a target
        counts = np.bincount(holder, minlength=following.parts)
        header += np.concatenate(([0], np.cumsum(counts))).tolist()
        ordered_ids.append(np.ascontiguousarray(words[kind][order], dtype=np.int32))
        ordered_rows.append(np.ascontiguousarray(values[kind][order], dtype=np.float32))
    chunks = [np.asarray(header, dtype=np.int64).tobytes()]
    chunks += [ids.data for ids in ordered_ids] + [rows.data for rows in ordered_rows]
    _commit(fs, path, chunks)


def read_slices(fs: FileSystem, paths: list[str], target: int, words,
                dim: int) -> list[np.ndarray]:
    """Trainer ``target``'s rows ``words`` (``(input ids, output ids)``, ascending) of both
    matrices, put together from its segments of the slice files ``paths``.

    Returns ``[input rows, output rows]``, ``(len(ids), dim) float32`` each, in ``words`` order;
    None for a matrix whose ``words`` are None (not read).

    Raises:
        RuntimeError: the files do not hold exactly those rows (a file of another run or stage).
    """
    got_ids: list[list] = [[], []]
    got_rows: list[list] = [[], []]
    for path in paths:
        with fs.open_input(path) as file:
            fixed = np.frombuffer(file.read_at(40, 0), dtype=np.int64)
            if fixed[0] != _SLICE_MAGIC or fixed[2] != dim or target >= fixed[1]:
                raise RuntimeError(f"{path} is not a slice file of this run")
            targets, rows = int(fixed[1]), fixed[3:5]
            offsets = np.frombuffer(file.read_at(16 * (targets + 1), 40), dtype=np.int64)
            offsets = offsets.reshape(2, targets + 1)
            ids_start = 40 + 16 * (targets + 1)
            rows_start = ids_start + 4 * int(rows.sum())
            for kind in (INPUT, OUTPUT):
                lo, hi = int(offsets[kind, target]), int(offsets[kind, target + 1])
                if hi == lo or words[kind] is None:
                    continue
                before = int(rows[:kind].sum())  # rows of the matrices stored first
                got_ids[kind].append(np.frombuffer(
                    file.read_at(4 * (hi - lo), ids_start + 4 * (before + lo)), dtype=np.int32))
                got_rows[kind].append(np.frombuffer(
                    file.read_at(4 * dim * (hi - lo), rows_start + 4 * dim * (before + lo)),
                    dtype=np.float32).reshape(hi - lo, dim))
    result = []
    for kind in (INPUT, OUTPUT):
        if words[kind] is None:
            result.append(None)
            continue
        ids = np.concatenate([np.zeros(0, np.int32), *got_ids[kind]])
        order = np.argsort(ids, kind="stable")
        if not np.array_equal(ids[order], words[kind]):
            raise RuntimeError(f"trainer {target} found {ids.size} rows of matrix {kind} in "
                               f"{len(paths)} slice files instead of its {words[kind].size}")
        rows = np.concatenate([np.zeros((0, dim), np.float32), *got_rows[kind]])[order]
        result.append(np.ascontiguousarray(rows))  # writable, not a view of a read buffer
    return result


def read_all(fs: FileSystem, paths: list[str], vocab_size: int,
             dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The whole model from the slice files ``paths`` (every row in exactly one of them), on the
    caller's machine: ``(syn0, syn1)``, ``(vocab_size, dim) float32`` each."""
    model = np.zeros((2, vocab_size, dim), np.float32)
    seen = np.zeros((2, vocab_size), bool)
    for path in paths:
        data = fs.read_bytes(path)
        fixed = np.frombuffer(data, np.int64, 5)
        if fixed[0] != _SLICE_MAGIC or fixed[2] != dim:
            raise RuntimeError(f"{path} is not a slice file of this model")
        rows = fixed[3:5]
        at = 40 + 16 * (int(fixed[1]) + 1)
        ids = np.frombuffer(data, np.int32, int(rows.sum()), at)
        values = np.frombuffer(data, np.float32, int(rows.sum()) * dim, at + ids.nbytes)
        values = values.reshape(-1, dim)
        for kind, (lo, hi) in enumerate(((0, rows[0]), (rows[0], rows.sum()))):
            model[kind][ids[lo:hi]] = values[lo:hi]
            seen[kind][ids[lo:hi]] = True
    if not seen.all():
        raise RuntimeError(f"{len(paths)} slice files hold {int(seen.sum())} of the model's "
                           f"{2 * vocab_size} rows")
    return model[0], model[1]


#: Bytes of packed blocks a cut task holds before it writes them as one run of its block file.
#: The task's memory is then this and one slice of windows (``EpochPlan.slice_tokens``), not its
#: whole partition (≈ 25 bytes per token: 15 M tokens of a partition held 2.2 GB across the two
#: workers of a 30 M-word run before runs came in), and a trainer reads one segment per run.
BLOCK_RUN_BYTES = 64 << 20


def write_blocks(fs: FileSystem, path: str, keys: int, pieces,
                 run_bytes: int = BLOCK_RUN_BYTES) -> None:
    """One map task's blocks of one epoch as the block file ``path``, written as they come.

    ``pieces`` yields ``(key, (raw words, kept words), packed)`` in corpus order, ``key`` <
    ``keys`` (:func:`~w2v_spark.sgns.stratum.stage_key`), ``packed`` the arrays of
    :func:`~w2v_spark.sgns.strata.pack_block`. Pieces are gathered into *runs* of about
    ``run_bytes``; a run holds one segment per key (its pieces concatenated). File: the runs,
    each segment a 6-int64 header (raw, kept, groups, pairs, item sizes of the centre and count
    arrays) and the three arrays; then the index, ``keys + 1`` int64 byte offsets of each run's
    segments; then three int64: magic, ``keys``, runs."""
    index: list[np.ndarray] = []
    position = 0

    def run(gathered: list[list]):
        nonlocal position
        offsets = [position]
        for found in gathered:
            if found:
                centre, counts, context = (np.concatenate([p[i] for _, p in found])
                                           for i in range(3))
                head = np.asarray([sum(n[0] for n, _ in found), sum(n[1] for n, _ in found),
                                   centre.size, context.size, centre.itemsize, counts.itemsize],
                                  dtype=np.int64)
                for part in (head, centre, counts, context):
                    position += part.nbytes
                    yield part.data
            offsets.append(position)
        index.append(np.asarray(offsets, dtype=np.int64))

    def chunks():
        gathered: list[list] = [[] for _ in range(keys)]
        held = waiting = 0
        for key, numbers, packed in pieces:
            gathered[key].append((numbers, packed))
            held += sum(a.nbytes for a in packed)
            waiting += 1
            if held >= run_bytes:
                yield from run(gathered)
                gathered, held, waiting = [[] for _ in range(keys)], 0, 0
        if waiting or not index:  # pieces without windows still carry word counts
            yield from run(gathered)
        del gathered
        for offsets in index:
            yield offsets.data
        yield np.asarray([_BLOCK_MAGIC, keys, len(index)], dtype=np.int64).data

    _commit(fs, path, chunks())


_ID_TYPES = {2: np.uint16, 4: np.int32}
_COUNT_TYPES = {1: np.uint8, 8: np.int64}


def _segment(data: bytes) -> tuple[int, int, Windows]:
    raw, kept, groups, pairs, id_size, count_size = np.frombuffer(data, np.int64, 6)
    ids, counts = _ID_TYPES[int(id_size)], _COUNT_TYPES[int(count_size)]
    at = 48
    centre = np.frombuffer(data, ids, int(groups), at)
    at += centre.nbytes
    sizes = np.frombuffer(data, counts, int(groups), at)
    at += sizes.nbytes
    context = np.frombuffer(data, ids, int(pairs), at)
    return int(raw), int(kept), unpack_block((centre, sizes, context))


def read_block(fs: FileSystem, path: str, key: int) -> tuple[int, int, list[Windows]]:
    """Segment ``key`` of every run of the block file ``path``: ``(raw words, kept words,
    windows of each run that has some)``, in corpus order."""
    with fs.open_input(path) as file:
        size = file.size()
        magic, keys, runs = (np.frombuffer(file.read_at(24, size - 24), dtype=np.int64)
                             if size >= 24 else (0, 0, 0))
        if magic != _BLOCK_MAGIC or key >= keys:
            raise RuntimeError(f"{path} is not a block file of this epoch")
        index_at = size - 24 - 8 * int(runs) * (int(keys) + 1)
        raw = kept = 0
        found = []
        for run in range(int(runs)):
            lo, hi = np.frombuffer(file.read_at(16, index_at + 8 * (run * (int(keys) + 1) + key)),
                                   dtype=np.int64)
            if hi == lo:
                continue
            run_raw, run_kept, windows = _segment(file.read_at(int(hi - lo), int(lo)))
            raw, kept = raw + run_raw, kept + run_kept
            if windows.groups:
                found.append(windows)
    return raw, kept, found


def read_windows(fs: FileSystem, directory: str, key: int, parts: int) -> tuple[int, int, Windows]:
    """Segment ``key`` of the ``parts`` block files in ``directory``, in partition order (corpus
    order): ``(raw words, kept words, windows)``."""
    raw = kept = 0
    found = []
    for part in range(parts):
        part_raw, part_kept, windows = read_block(fs, part_path(directory, part), key)
        raw, kept = raw + part_raw, kept + part_kept
        found += windows
    return raw, kept, Windows.concatenate(found)
