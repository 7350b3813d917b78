"""Skip-gram (and CBOW) with negative sampling (Mikolov et al. 2013): batched NumPy kernels.

Conventions follow word2vec and gensim: for a centre word ``w`` and a context word ``c`` in its
window, the *input* vector of ``c`` (``syn0``, the embedding we publish) is trained to predict
the *output* vector of ``w`` (``syn1``) against ``negative`` noise words.

Batching follows Ji et al. 2016 ("HogBatch"): all context words of one centre share the same
negatives, so one centre's work is a small dense product ``(n_context, d) @ (d, 1 + negative)``.
Centres with the same number of context words are stacked into one batched product; updates of a
whole chunk of centres are applied at once, duplicates summed through a sparse product.

Several threads over one model (``TrainSettings.threads``) and windows formed by a compiled
loop use :mod:`w2v_spark.sgns.kernel_numba`, imported only then. Imports only NumPy and SciPy (no
Spark), so it is tested without a JVM.

One module (≈ 540 lines) on purpose: it is the reference every compiled kernel is checked
against, so window sampling and the three objectives (skip-gram and CBOW with negative sampling,
the full softmax) stay side by side.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from w2v_spark.sgns.sampling import NoiseTable


def sgns_gradients(
    inputs: np.ndarray,
    outputs: np.ndarray,
    lr: float,
    valid: np.ndarray | None = None,
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Scaled negative gradients of the SGNS loss for stacks of (context, output) blocks.

    The loss of one block is ``-Σ_c [log σ(x_c·y_0) + Σ_{k≥1} log σ(-x_c·y_k)]``: row 0 of each
    output block is the true centre word, rows 1.. are its negatives.

    Args:
        inputs: ``(m, n, d) float32`` — input vectors of ``n`` context words for ``m`` centres.
        outputs: ``(m, 1 + negative, d) float32`` — output vectors of centre + negatives.
        lr: learning rate the gradients are multiplied by.
        valid: optional ``(m, 1 + negative) bool``; False drops an output (a negative that
            happens to equal its centre word, as word2vec skips it).
        out: optional preallocated ``(delta_inputs, delta_outputs)`` of the result shapes.

    Returns:
        ``(delta_inputs (m, n, d), delta_outputs (m, 1 + negative, d), loss)`` where the deltas are
        ``-lr × gradient`` (add them to the rows) and ``loss`` is the float64 sum over all pairs,
        computed before the update (exact while |score| < 15 in float32; capped beyond).
    """
    # "signed" scores: +s for the true word, -s for negatives, so that every pair's probability of
    # being classified right is q = σ(signed) and its loss is -log q.
    signed = np.matmul(inputs, outputs.transpose(0, 2, 1))  # (m, n, 1 + negative)
    signed[:, :, 1:] *= -1.0
    signed *= 0.5
    np.tanh(signed, out=signed)  # σ(x) = (1 + tanh(x / 2)) / 2: no overflow anywhere
    error = 0.5 - 0.5 * signed  # 1 - q = |label - σ(s)|
    right = 1.0 - error  # q
    if valid is not None and not valid.all():
        error *= valid[:, None, :]
        right[~np.broadcast_to(valid[:, None, :], right.shape)] = 1.0
    np.maximum(right, np.finfo(right.dtype).tiny, out=right)
    loss = -float(np.log(right).sum(dtype=np.float64))
    error[:, :, 1:] *= -1.0  # label - σ(s): positive for the true word, negative for negatives
    error *= np.asarray(lr, dtype=error.dtype)
    d_in, d_out = out if out is not None else (None, None)
    delta_inputs = np.matmul(error, outputs, out=d_in)  # (m, n, d)
    if inputs.shape[1] == 1:
        # An outer product: NumPy's matmul with an inner dimension of 1 is ~3× slower than this.
        delta_outputs = np.multiply(error.transpose(0, 2, 1), inputs, out=d_out)
    else:
        delta_outputs = np.matmul(error.transpose(0, 2, 1), inputs, out=d_out)  # (m, 1 + neg, d)
    return delta_inputs, delta_outputs, loss


def scatter_add(matrix: np.ndarray, rows: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    """``matrix[rows[i]] += deltas[i]`` for every ``i``, duplicate rows summed.

    Args:
        matrix: ``(vocab_size, d) float32``, updated in place.
        rows: ``(n,) int`` row ids (may repeat).
        deltas: ``(n, d) float32``.

    Returns:
        ``(vocab_size,) int64`` — how many deltas each row received.
    """
    touches = np.bincount(rows, minlength=matrix.shape[0])
    unique_rows = np.flatnonzero(touches)
    slot = np.zeros(matrix.shape[0], dtype=np.int32)
    slot[unique_rows] = np.arange(unique_rows.size, dtype=np.int32)
    n = rows.shape[0]
    # Imported here: workers that train with the numba kernel never call this, and scipy.sparse's
    # import is 90 ms of every Python worker's start.
    from scipy import sparse

    # A (unique × n) 0/1 matrix in CSC form needs no sorting: column i holds one 1 at slot[rows[i]].
    summing = sparse.csc_matrix(
        (np.ones(n, dtype=deltas.dtype), slot[rows], np.arange(n + 1)),
        shape=(unique_rows.size, n),
    )
    matrix[unique_rows] += summing @ deltas
    return touches


@dataclass
class PartitionStats:
    """What one pass did. Counts are plain ints, loss a float64 sum over pairs."""

    raw_words: int = 0
    trained_words: int = 0
    pairs: int = 0
    loss: float = 0.0
    input_touches: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    output_touches: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


@dataclass(frozen=True)
class TrainSettings:
    """Hyperparameters the kernel needs (a subset of the ``[sgns]`` config)."""

    window: int
    negative: int
    alpha: float
    min_alpha: float
    batch_centers: int = 1024
    kernel: str = "numpy"  # "numpy" (reference) or "numba" (w2v_spark.sgns.kernel_numba)
    model: str = "skipgram"  # or "cbow" (NumPy kernel only)
    loss: str = "negative_sampling"  # or "softmax": full softmax over the vocabulary (skip-gram)
    threads: int = 1  # > 1: that many threads over one model (numba skip-gram only)


@dataclass(frozen=True)
class Windows:
    """Training groups in corpus order: one per kept centre word with at least one context word.

    Attributes:
        centre: ``(groups,) int32`` word id of each centre.
        offsets: ``(groups + 1,) int64``; group ``g``'s contexts are ``context[offsets[g]:offsets[g+1]]``.
        context: ``(pairs,) int32`` word ids of the context words.
    """

    centre: np.ndarray
    offsets: np.ndarray
    context: np.ndarray

    @property
    def groups(self) -> int:
        return int(self.centre.shape[0])

    @classmethod
    def concatenate(cls, parts: list["Windows"]) -> "Windows":
        if not parts:
            return cls(np.zeros(0, np.int32), np.zeros(1, np.int64), np.zeros(0, np.int32))
        sizes = np.cumsum([0] + [p.context.shape[0] for p in parts[:-1]])
        return cls(
            centre=np.concatenate([p.centre for p in parts]),
            offsets=np.concatenate(
                [[0]] + [p.offsets[1:] + base for p, base in zip(parts, sizes, strict=True)]
            ),
            context=np.concatenate([p.context for p in parts]),
        )


def sample_windows(
    ids: np.ndarray, offsets: np.ndarray, *, keep_probability: np.ndarray, window: int,
    rng: np.random.Generator, compiled: bool | None = None,
) -> tuple[Windows, int]:
    """Subsample frequent words, then give every kept word a window of 1..``window`` words each
    side (word2vec's random shrinking), never crossing a document boundary.

    Subsampling drops tokens before windows are formed, which widens the effective window (as in
    word2vec and gensim).

    Args:
        ids: ``(n_tokens,) int32`` word ids of all documents, concatenated.
        offsets: ``(n_documents + 1,) int64``; document ``s`` is ``ids[offsets[s]:offsets[s+1]]``.
        keep_probability: ``(vocab_size,) float32`` subsampling keep chance per word id.
        compiled: form the windows with numba (:func:`~w2v_spark.sgns.kernel_numba.window_groups`) or
            NumPy; the same arrays either way. By default numba when it is installed.

    Returns:
        ``(windows, kept tokens)``.
    """
    # int32 positions (a slice holds at most ~1M tokens): half the memory traffic of int64.
    kept = rng.random(ids.shape[0], dtype=np.float32) < keep_probability[ids]
    stream = ids[kept]
    kept_before = np.zeros(ids.shape[0] + 1, dtype=np.int32)
    np.cumsum(kept, dtype=np.int32, out=kept_before[1:])
    bounds = kept_before[offsets]  # document boundaries in the kept stream
    reach = rng.integers(1, window + 1, size=stream.shape[0]).astype(np.int32)
    if compiled is None:
        compiled = _numba_available()
    if compiled:
        from w2v_spark.sgns.kernel_numba import window_groups

        return Windows(*window_groups(stream, bounds, reach)), int(stream.shape[0])
    length = np.diff(bounds)
    doc_start = np.repeat(bounds[:-1], length)
    doc_end = np.repeat(bounds[1:], length)
    position = np.arange(stream.shape[0], dtype=np.int32)
    left = np.maximum(doc_start, position - reach)
    right = np.minimum(doc_end - 1, position + reach)
    has_context = right > left
    centres = position[has_context]
    left, right = left[has_context], right[has_context]
    contexts = right - left  # the window without the centre itself
    group_offsets = np.zeros(centres.shape[0] + 1, dtype=np.int64)
    np.cumsum(contexts, out=group_offsets[1:])
    # Context j of a centre sits at left + j, one further once past the centre.
    within = np.arange(group_offsets[-1], dtype=np.int32) \
        - np.repeat(group_offsets[:-1].astype(np.int32), contexts)
    position_of = np.repeat(left, contexts) + within
    position_of += position_of >= np.repeat(centres, contexts)
    windows = Windows(
        centre=stream[centres].astype(np.int32, copy=False),
        offsets=group_offsets,
        context=stream[position_of].astype(np.int32, copy=False),
    )
    return windows, int(stream.shape[0])


def _numba_available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def step_size(batch_centers: int, vocab_size: int) -> int:
    """Centres per update step: ``batch_centers``, but at most ``vocab_size / 8`` (≥ 16).

    All updates of a step are summed from the same (stale) rows. When a step holds many
    occurrences of the same word, its summed update overshoots where sequential SGD would have
    corrected itself; with a small vocabulary every word recurs in every step and training
    diverges (measured: a 31-word corpus gives NaN at 1024 centres per step, trains at 16). Large
    vocabularies keep the full batch.
    """
    return max(1, min(batch_centers, max(16, vocab_size // 8)))


def train_windows(
    syn0: np.ndarray,
    syn1: np.ndarray,
    windows: Windows,
    *,
    noise,
    settings: TrainSettings,
    progress: tuple[float, float],
    rng: np.random.Generator,
    stats: PartitionStats,
    vocab_size: int | None = None,
) -> None:
    """Train all groups of ``windows`` in order, updating ``syn0``/``syn1`` in place.

    Args:
        syn0: ``(rows, d) float32`` input vectors (the embeddings), indexed by ``windows.context``.
        syn1: ``(rows, d) float32`` output vectors, indexed by ``windows.centre`` and the noise.
        noise: anything with ``sample(rng, shape) -> int32 row ids`` (a :class:`NoiseTable`).
        progress: ``(start, end)`` fraction of the whole run these groups cover; the learning rate
            decays linearly from ``alpha`` at 0 to ``min_alpha`` at 1 as the groups go by.
        stats: accumulates loss, pairs and per-row touch counts.
        vocab_size: the vocabulary's size, which caps the step (:func:`step_size`); by default
            ``syn0``'s rows. A stratified trainer holds slices of the model and passes it.
    """
    batch = step_size(settings.batch_centers, vocab_size or syn0.shape[0])
    lr_from, lr_to = (settings.alpha - (settings.alpha - settings.min_alpha) * p for p in progress)
    groups = windows.groups
    if settings.loss == "softmax":
        # A step holds a (pairs × vocabulary) score matrix: keep it near 4M entries.
        batch = max(1, min(batch, (1 << 22) // (syn1.shape[0] * 2 * settings.window)))
        for first in range(0, groups, batch):
            lr = lr_from + (lr_to - lr_from) * first / groups
            _softmax_step(syn0, syn1, windows, first, min(first + batch, groups), lr, stats)
        return
    if settings.threads > 1:
        _train_threads(syn0, syn1, windows, noise=noise, settings=settings,
                       rates=(lr_from, lr_to), rng=rng, stats=stats)
        return
    # All negatives of these groups in one draw: per-step draws of ~5k ids cost more in call
    # overhead than in sampling (measured: 1.7 s of 31 s of worker time on bench-en, 2 epochs).
    negatives = noise.sample(rng, (groups, settings.negative))
    if settings.model == "cbow" and settings.kernel == "numpy":
        for first in range(0, groups, batch):
            lr = lr_from + (lr_to - lr_from) * first / groups
            last = min(first + batch, groups)
            _cbow_step(syn0, syn1, windows, first, last, lr, negatives[first:last], stats)
        return
    if settings.kernel == "numba":
        from w2v_spark.sgns.kernel_numba import train_cbow_groups, train_groups

        kernel = train_cbow_groups if settings.model == "cbow" else train_groups
        for first in range(0, groups, batch):
            last = min(first + batch, groups)
            loss, pairs = kernel(
                syn0, syn1, windows.centre, windows.offsets, windows.context,
                negatives[first:last], first, last, lr_from, lr_to, groups,
                stats.input_touches, stats.output_touches,
            )
            stats.loss += loss
            stats.pairs += pairs
        return
    for first in range(0, groups, batch):
        lr = lr_from + (lr_to - lr_from) * first / groups
        last = min(first + batch, groups)
        _train_step(syn0, syn1, windows, first, last, lr, negatives[first:last], settings, stats)


def deal_in_bands(rows: int, parts: int, rng: np.random.Generator) -> np.ndarray:
    """``(rows,) int32`` part of each of ``rows`` rows in frequency order (ids and slice rows
    both are): the rows are taken ``parts`` at a time and each band is dealt in a random order,
    so every part gets one row of every frequency band and the parts' masses stay close."""
    bands = -(-rows // parts)
    deals = rng.permuted(np.tile(np.arange(parts, dtype=np.int32), (bands, 1)), axis=1)
    return deals.ravel()[:rows]


def part_negatives(noise, rng: np.random.Generator, group_part: np.ndarray,
                   output_part: np.ndarray, parts: int, negative: int) -> np.ndarray:
    """``(groups, negative) int32`` negatives of each group, drawn from the noise distribution
    restricted to the rows of the group's part (an alias table per part over the noise's
    weights there), part after part.

    Args:
        noise: a :class:`NoiseTable` over the rows of ``syn1``.
        group_part: ``(groups,)`` part of each group's centre.
        output_part: ``(rows,)`` part of each row of ``syn1``.
    """
    from w2v_spark.sgns.kernel_numba import alias_table

    weights = noise.probability + np.bincount(noise.alias, weights=1.0 - noise.probability,
                                              minlength=noise.size)
    negatives = np.empty((group_part.shape[0], negative), np.int32)
    for part in range(parts):
        groups = np.flatnonzero(group_part == part)
        if groups.shape[0] == 0:
            continue
        rows = np.flatnonzero(output_part == part)
        mass = weights[rows]
        if mass.sum() <= 0:
            raise ValueError(f"part {part} has centres but no noise mass")
        table = NoiseTable(*alias_table(mass * (mass.shape[0] / mass.sum())))
        negatives[groups] = rows[table.sample(rng, (groups.shape[0], negative))]
    return negatives


#: Groups per step of :func:`_train_threads`, per thread: a thread reads the input rows as they
#: were when the step began, so this bounds how stale they get (the NumPy kernel's steps are
#: 1024 centres).
THREAD_STEP_GROUPS = 256


def _train_threads(syn0, syn1, windows: Windows, *, noise, settings: TrainSettings,
                   rates: tuple[float, float], rng: np.random.Generator,
                   stats: PartitionStats) -> None:
    """Skip-gram on ``T = settings.threads`` threads over one model, deterministically
    (:func:`~w2v_spark.sgns.kernel_numba.train_groups_threads`).

    The output rows (``syn1``) are dealt into ``T`` parts (:func:`deal_in_bands`); a thread
    trains the groups whose centre is in its part, with negatives from its part
    (:func:`part_negatives`), so it alone writes those rows and writes them at once, as the
    one-thread kernel does. The input rows (``syn0``) are read by every thread: their updates
    are collected over a step of ``THREAD_STEP_GROUPS`` groups of every thread and added at its
    end in a fixed order. Same seed, same windows, same ``T`` → the same bits, however the threads
    run. Every group is trained once, in corpus order within its thread.
    """
    from w2v_spark.sgns.kernel_numba import train_groups_threads

    threads, groups = settings.threads, windows.groups
    if groups == 0:
        return
    output_part = deal_in_bands(syn1.shape[0], threads, rng)
    group_part = output_part[windows.centre]
    negatives = part_negatives(noise, rng, group_part, output_part, threads, settings.negative)
    part_groups = np.argsort(group_part, kind="stable")  # by part, in corpus order within one
    part_start = np.concatenate(([0], np.cumsum(np.bincount(group_part, minlength=threads))))
    step = THREAD_STEP_GROUPS
    # The most pairs any thread trains in one step: the scratch each thread needs.
    chunks = np.concatenate([np.arange(part_start[t], part_start[t + 1], step)
                             for t in range(threads)])
    capacity = int(np.add.reduceat(np.diff(windows.offsets)[part_groups], chunks).max())
    delta = np.empty((threads, capacity, syn0.shape[1]), np.float32)
    delta_row = np.empty((threads, capacity), np.int32)
    # Which thread adds each input row's updates: any fixed choice gives the same bits.
    input_owner = (np.arange(syn0.shape[0]) % threads).astype(np.int32)
    loss, pairs = train_groups_threads(
        syn0, syn1, windows.centre, windows.offsets, windows.context, negatives, *rates,
        part_groups, part_start, input_owner, step, delta, delta_row, stats.input_touches,
        stats.output_touches)
    stats.loss += loss
    stats.pairs += int(pairs)


def _train_step(syn0, syn1, windows, first, last, lr, negatives, settings, stats):
    """Groups ``first:last`` as one step: all reads first, then all writes. ``negatives``:
    ``(last - first, negative) int32`` noise words of these groups."""
    offsets = windows.offsets[first : last + 1]
    counts = np.diff(offsets)
    order = np.argsort(counts, kind="stable")  # stack groups of equal size into one product
    size_starts = np.flatnonzero(np.diff(counts[order])) + 1
    dim, width = syn0.shape[1], settings.negative + 1
    targets = windows.centre[first:last]
    outputs = np.concatenate((targets[:, None], negatives), axis=1)  # (groups, 1 + negative)
    valid = np.ones(outputs.shape, dtype=bool)
    valid[:, 1:] = negatives != targets[:, None]
    # Deltas of the whole step are written in place, then scattered once per matrix.
    pairs = int(offsets[-1] - offsets[0])
    input_rows = np.empty(pairs, dtype=np.int32)
    input_deltas = np.empty((pairs, dim), dtype=syn0.dtype)
    output_rows = np.empty((last - first, width), dtype=np.int32)
    output_deltas = np.empty((last - first, width, dim), dtype=syn1.dtype)
    done_pairs = done_groups = 0
    for members in np.split(order, size_starts):
        m, n = members.shape[0], int(counts[members[0]])
        context = windows.context[offsets[members][:, None] + np.arange(n)]  # (m, n)
        output = outputs[members]
        in_slice = slice(done_pairs, done_pairs + m * n)
        out_slice = slice(done_groups, done_groups + m)
        _, _, loss = sgns_gradients(
            syn0[context], syn1[output], lr, valid[members],
            out=(input_deltas[in_slice].reshape(m, n, dim), output_deltas[out_slice]),
        )
        input_rows[in_slice] = context.ravel()
        output_rows[out_slice] = output
        stats.loss += loss
        done_pairs += m * n
        done_groups += m
    stats.pairs += pairs
    stats.input_touches += scatter_add(syn0, input_rows, input_deltas)
    stats.output_touches += scatter_add(syn1, output_rows.ravel(), output_deltas.reshape(-1, dim))


def softmax_gradients(inputs: np.ndarray, syn1: np.ndarray, targets: np.ndarray, lr: float):
    """Scaled negative gradients of the full-softmax skip-gram loss ``-log softmax(syn1 · x)[w]``.

    Args:
        inputs: ``(n, d)`` input vectors ``x`` of ``n`` (context, centre) pairs.
        syn1: ``(V, d)`` all output vectors.
        targets: ``(n,) int`` the centre word ``w`` of each pair.
    Returns:
        ``(delta_inputs (n, d), delta_syn1 (V, d), loss)``: ``-lr ·`` the gradients
        ``∂/∂x = syn1ᵀ (p − onehot(w))`` and ``∂/∂syn1 = (p − onehot(w)) xᵀ`` (summed over pairs),
        loss summed in float64.
    """
    scores = inputs @ syn1.T  # (n, V)
    scores -= scores.max(axis=1, keepdims=True)  # stable softmax
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=1, keepdims=True)
    rows = np.arange(targets.shape[0])
    loss = -float(np.log(np.maximum(scores[rows, targets], np.finfo(scores.dtype).tiny)).sum(dtype=np.float64))
    scores[rows, targets] -= 1.0  # p − onehot(w)
    scores *= -lr
    return scores @ syn1, scores.T @ inputs, loss


def _softmax_step(syn0, syn1, windows, first, last, lr, stats):
    """Skip-gram with the full softmax for groups ``first:last`` as one step (no negatives)."""
    offsets = windows.offsets[first : last + 1]
    context = windows.context[offsets[0] : offsets[-1]]
    targets = np.repeat(windows.centre[first:last], np.diff(offsets))
    delta_inputs, delta_syn1, loss = softmax_gradients(syn0[context], syn1, targets, lr)
    stats.loss += loss
    stats.pairs += int(context.shape[0])
    stats.input_touches += scatter_add(syn0, context, delta_inputs)
    syn1 += delta_syn1
    stats.output_touches += 1  # every output row moves


def _cbow_step(syn0, syn1, windows, first, last, lr, negatives, stats):
    """CBOW (word2vec ``-cbow 1``) for groups ``first:last`` as one step.

    The hidden vector of a centre is the mean of its context words' input vectors; it predicts the
    centre's output vector against the same negatives as skip-gram would draw. That is exactly
    :func:`sgns_gradients` with one "context" row per centre (the mean). As in word2vec, the
    hidden vector's whole delta is added to every context word (not divided by their number).
    """
    offsets = windows.offsets[first : last + 1]
    counts = np.diff(offsets)
    context = windows.context[offsets[0] : offsets[-1]]
    sums = np.add.reduceat(syn0[context], offsets[:-1] - offsets[0], axis=0)
    hidden = (sums / counts[:, None].astype(syn0.dtype)).astype(syn0.dtype)
    targets = windows.centre[first:last]
    outputs = np.concatenate((targets[:, None], negatives), axis=1)  # (groups, 1 + negative)
    valid = np.ones(outputs.shape, dtype=bool)
    valid[:, 1:] = negatives != targets[:, None]
    delta_hidden, delta_outputs, loss = sgns_gradients(hidden[:, None, :], syn1[outputs], lr, valid)
    stats.loss += loss
    stats.pairs += last - first  # one prediction per centre
    stats.input_touches += scatter_add(syn0, context, np.repeat(delta_hidden[:, 0, :], counts, axis=0))
    stats.output_touches += scatter_add(syn1, outputs.ravel(), delta_outputs.reshape(-1, syn1.shape[1]))


def new_stats(vocab_size: int, raw_words: int = 0) -> PartitionStats:
    return PartitionStats(
        raw_words=raw_words,
        input_touches=np.zeros(vocab_size, dtype=np.int64),
        output_touches=np.zeros(vocab_size, dtype=np.int64),
    )


def document_slices(offsets: np.ndarray, max_tokens: int = 1 << 20) -> list[tuple[int, int]]:
    """Cut documents ``0..len(offsets)-2`` into consecutive runs of about ``max_tokens`` tokens
    (a longer document is a run of its own), to bound the memory of the window arrays."""
    cuts = [0]
    limit = offsets[0] + max_tokens
    while cuts[-1] < offsets.shape[0] - 1:
        nxt = int(np.searchsorted(offsets, limit, side="right")) - 1
        nxt = min(max(nxt, cuts[-1] + 1), offsets.shape[0] - 1)
        cuts.append(nxt)
        limit = offsets[nxt] + max_tokens
    return list(zip(cuts[:-1], cuts[1:], strict=True))


def train_partition(
    syn0: np.ndarray,
    syn1: np.ndarray,
    ids: np.ndarray,
    offsets: np.ndarray,
    *,
    keep_probability: np.ndarray,
    noise: NoiseTable,
    settings: TrainSettings,
    progress: tuple[float, float],
    rng: np.random.Generator,
    max_tokens: int = 1 << 20,
) -> PartitionStats:
    """One pass of skip-gram over one partition's documents (:func:`sample_windows` then
    :func:`train_windows`, about ``max_tokens`` tokens at a time), updating ``syn0``/``syn1`` in
    place. Arguments as there."""
    stats = new_stats(syn0.shape[0], raw_words=int(ids.shape[0]))
    start, end = progress
    for lo, hi in document_slices(offsets, max_tokens):
        first, last = offsets[lo], offsets[hi]
        windows, kept = sample_windows(
            ids[first:last], offsets[lo : hi + 1] - first, keep_probability=keep_probability,
            window=settings.window, rng=rng,
        )
        stats.trained_words += kept
        share = (start + (end - start) * first / ids.shape[0],
                 start + (end - start) * last / ids.shape[0])
        train_windows(syn0, syn1, windows, noise=noise, settings=settings, progress=share,
                      rng=rng, stats=stats)
    return stats
