"""Optional compiled SGNS kernel (``pip install 'w2v_spark[numba]'``, ``[sgns] kernel``).

The same model and the same random draws as the NumPy reference kernel (:mod:`w2v_spark.sgns.kernel`):
negatives are drawn by the caller, all at once per call of ``train_windows``. The difference is
only when updates land: this kernel applies each centre's updates before the next centre is read
(as word2vec does), where the NumPy kernel applies a whole step of centres at once. With
``batch_centers = 1`` the two agree to float rounding (a test checks it).

:func:`train_groups_threads` trains skip-gram on several threads over one model, deterministically
(``[sgns] threads``).

Imports NumPy and numba only.
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, inline="always")
def _group_rate(lr_from, lr_to, group, groups_total):  # pragma: no cover - compiled
    """The learning rate of group ``group``: linear from ``lr_from`` (group 0) to ``lr_to``."""
    return np.float32(lr_from + (lr_to - lr_from) * group / groups_total)


@numba.njit(cache=True, nogil=True, inline="always")
def _fill_outputs(outputs, target, negatives, row):  # pragma: no cover - compiled
    """``outputs`` ← the centre word, then its negatives (row ``row`` of ``negatives``)."""
    outputs[0] = target
    for k in range(1, outputs.shape[0]):
        outputs[k] = negatives[row, k - 1]


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy", inline="always")
def _pair_error(score, is_target, lr):  # pragma: no cover - compiled
    """``(q, lr · (label − σ(score)))`` of one (input, output) score, where ``q = σ(signed)`` is
    the chance of classifying the pair right (its loss is ``−log q``).

    With ``e = exp(−signed) = (1 − q) / q``, the error ``1 − q`` is ``e · q``: one ``exp`` in
    float64, clamped at |signed| = 80 (no overflow; a pair's loss caps at 80). ``tanh`` made the
    kernel 22 % slower (bench-en-sized vocabulary, 100 dimensions).
    """
    signed = score if is_target else -score
    e = math.exp(-min(max(signed, -80.0), 80.0))
    q = 1.0 / (1.0 + e)
    err = np.float32(e * q * lr)
    return q, (err if is_target else -err)


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _add_likelihood(likelihood, q, loss):  # pragma: no cover - compiled
    """Multiply ``q`` into a running likelihood, moving it into ``loss`` (as ``−log``) before it
    can underflow: one ``log`` per centre instead of one per pair (the kernel's next most costly
    call after ``exp``: −14 %). Returns ``(likelihood, loss)``."""
    likelihood *= q
    if likelihood < 1e-250:  # q ≥ σ(−80) ≈ 1.8e-35, so the product stays above 1e-285
        loss -= math.log(likelihood)
        likelihood = 1.0
    return likelihood, loss


@numba.njit(cache=True, nogil=True, inline="always")
def _apply_outputs(syn1, outputs, d_out, output_touches):  # pragma: no cover - compiled
    for k in range(outputs.shape[0]):
        out = outputs[k]
        output_touches[out] += 1
        for i in range(syn1.shape[1]):
            syn1[out, i] += d_out[k, i]


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy", inline="always")
def _group_updates(syn0, syn1, context, start, stop, outputs, target, lr, d_in, first_row, d_out,
                   loss):  # pragma: no cover - compiled
    """One centre's skip-gram updates, all read from the rows as they are now: row
    ``first_row + j - start`` of ``d_in`` gets context ``j``'s input-vector update, ``d_out`` (zeroed
    here) the output rows'. Returns the loss with this centre's added."""
    d_out[:, :] = 0.0
    likelihood = 1.0
    for j in range(start, stop):
        row = context[j]
        entry = first_row + j - start
        d_in[entry, :] = 0.0
        for k in range(outputs.shape[0]):
            out = outputs[k]
            if k > 0 and out == target:
                continue  # word2vec skips a negative that is the centre itself
            score = np.float32(0.0)
            for i in range(syn0.shape[1]):
                score += syn0[row, i] * syn1[out, i]
            q, err = _pair_error(score, k == 0, lr)
            likelihood, loss = _add_likelihood(likelihood, q, loss)
            for i in range(syn0.shape[1]):
                d_in[entry, i] += err * syn1[out, i]
                d_out[k, i] += err * syn0[row, i]
    return loss - math.log(likelihood)


# fastmath lets LLVM vectorise the dot products; the numpy error model lets a diverging run
# produce NaN (caught by the driver with a hint) instead of raising ZeroDivisionError in a task.
@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def train_groups(syn0, syn1, centre, offsets, context, negatives, first, last, lr_from, lr_to,
                 groups_total, input_touches, output_touches):  # pragma: no cover - compiled
    """Train groups ``first:last`` of a :class:`~w2v_spark.sgns.kernel.Windows`, one centre at a time.

    Args:
        syn0, syn1: ``(vocab_size, d) float32`` updated in place.
        centre, offsets, context: the arrays of the windows.
        negatives: ``(last - first, negative) int32`` noise words of these groups.
        lr_from, lr_to: learning rate at group 0 and at group ``groups_total``; a group's rate is
            interpolated linearly by its index.
        input_touches, output_touches: ``(vocab_size,) int64`` update counters.

    Returns:
        ``(loss float64, pairs int)``.
    """
    dim = syn0.shape[1]
    width = negatives.shape[1] + 1
    outputs = np.empty(width, dtype=np.int32)
    d_out = np.zeros((width, dim), dtype=np.float32)
    max_context = 0
    for g in range(first, last):
        max_context = max(max_context, offsets[g + 1] - offsets[g])
    d_in = np.zeros((max_context, dim), dtype=np.float32)
    loss = 0.0
    pairs = 0
    for g in range(first, last):
        lr = _group_rate(lr_from, lr_to, g, groups_total)
        target = centre[g]
        _fill_outputs(outputs, target, negatives, g - first)
        start, stop = offsets[g], offsets[g + 1]
        loss = _group_updates(syn0, syn1, context, start, stop, outputs, target, lr, d_in, 0,
                              d_out, loss)
        pairs += stop - start
        # Reads above saw the rows as they were when this centre started; write now.
        for j in range(start, stop):
            row = context[j]
            input_touches[row] += 1
            for i in range(dim):
                syn0[row, i] += d_in[j - start, i]
        _apply_outputs(syn1, outputs, d_out, output_touches)
    return loss, pairs


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def train_cbow_groups(syn0, syn1, centre, offsets, context, negatives, first, last, lr_from, lr_to,
                      groups_total, input_touches, output_touches):  # pragma: no cover - compiled
    """CBOW (word2vec ``-cbow 1``) for groups ``first:last``, one centre at a time; arguments and
    return value as :func:`train_groups`. The hidden vector is the mean of the context words'
    input vectors; its whole delta is added to every context word (as word2vec does), and
    ``pairs`` counts one prediction per centre — the same model as the NumPy ``_cbow_step``."""
    dim = syn0.shape[1]
    width = negatives.shape[1] + 1
    hidden = np.zeros(dim, dtype=np.float32)
    d_hidden = np.zeros(dim, dtype=np.float32)
    d_out = np.zeros((width, dim), dtype=np.float32)
    outputs = np.empty(width, dtype=np.int32)
    loss = 0.0
    pairs = 0
    for g in range(first, last):
        lr = _group_rate(lr_from, lr_to, g, groups_total)
        target = centre[g]
        _fill_outputs(outputs, target, negatives, g - first)
        start, stop = offsets[g], offsets[g + 1]
        hidden[:] = 0.0
        for j in range(start, stop):
            row = context[j]
            for i in range(dim):
                hidden[i] += syn0[row, i]
        scale = np.float32(1.0) / np.float32(stop - start)
        for i in range(dim):
            hidden[i] *= scale
        d_hidden[:] = 0.0
        d_out[:, :] = 0.0
        likelihood = 1.0
        for k in range(width):
            out = outputs[k]
            if k > 0 and out == target:
                continue  # word2vec skips a negative that is the centre itself
            score = np.float32(0.0)
            for i in range(dim):
                score += hidden[i] * syn1[out, i]
            q, err = _pair_error(score, k == 0, lr)
            likelihood, loss = _add_likelihood(likelihood, q, loss)
            for i in range(dim):
                d_hidden[i] += err * syn1[out, i]
                d_out[k, i] += err * hidden[i]
        pairs += 1
        loss -= math.log(likelihood)
        for j in range(start, stop):
            row = context[j]
            input_touches[row] += 1
            for i in range(dim):
                syn0[row, i] += d_hidden[i]
        _apply_outputs(syn1, outputs, d_out, output_touches)
    return loss, pairs


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _train_part(syn0, syn1, centre, offsets, context, negatives, lr_from, lr_to, groups_total,
                part_groups, first, last, delta, delta_row,
                output_touches):  # pragma: no cover - compiled
    """One thread's groups ``part_groups[first:last]`` (ascending; all of its part).

    Output rows (the centre's and its negatives', all of the thread's part) are updated at once,
    as :func:`train_groups` does; the input rows' updates go to ``delta`` / ``delta_row`` (one
    entry per pair, in order) for :func:`_apply_part`, since other threads read the same input
    rows. Returns ``(loss, pairs, entries)``."""
    dim = syn0.shape[1]
    width = negatives.shape[1] + 1
    outputs = np.empty(width, dtype=np.int32)
    d_out = np.zeros((width, dim), dtype=np.float32)
    loss = 0.0
    pairs = 0
    entries = 0
    for index in range(first, last):
        g = part_groups[index]
        lr = _group_rate(lr_from, lr_to, g, groups_total)
        target = centre[g]
        _fill_outputs(outputs, target, negatives, g)
        start, stop = offsets[g], offsets[g + 1]
        delta_row[entries : entries + stop - start] = context[start:stop]
        loss = _group_updates(syn0, syn1, context, start, stop, outputs, target, lr, delta,
                              entries, d_out, loss)
        pairs += stop - start
        entries += stop - start
        _apply_outputs(syn1, outputs, d_out, output_touches)
    return loss, pairs, entries


@numba.njit(cache=True, nogil=True)
def _apply_part(syn0, delta, delta_row, entries, input_owner, part,
                input_touches):  # pragma: no cover - compiled
    """Add every thread's input-row updates to the rows that thread ``part`` owns, thread by
    thread and entry by entry: a fixed order of additions per row."""
    for thread in range(delta.shape[0]):
        for entry in range(entries[thread]):
            row = delta_row[thread, entry]
            if input_owner[row] == part:
                input_touches[row] += 1
                for i in range(syn0.shape[1]):
                    syn0[row, i] += delta[thread, entry, i]


@numba.njit(cache=True, nogil=True, parallel=True)
def train_groups_threads(syn0, syn1, centre, offsets, context, negatives, lr_from, lr_to,
                         part_groups, part_start, input_owner, step, delta, delta_row,
                         input_touches, output_touches):  # pragma: no cover - compiled
    """Skip-gram over all groups of a :class:`~w2v_spark.sgns.kernel.Windows` on ``T = delta.shape[0]``
    threads, deterministically.

    Thread ``t`` trains the groups of its part, ``part_groups[part_start[t]:part_start[t + 1]]``
    (the groups whose centre's output row is in part ``t``; their negatives are drawn from the
    same part), ``step`` at a time, in order. It alone writes its output rows, and writes them at
    once. Input rows are read as they were when the step began: at the end of each step every
    thread adds the step's input-row updates to the input rows it owns (``input_owner``), in a
    fixed order. The bits depend neither on how the threads are scheduled nor on how many OS
    threads run the ``T`` parts.

    Args:
        negatives: ``(groups, negative) int32``, each group's drawn from its part.
        part_groups: ``(groups,) int64`` group indices by part, ascending within a part.
        part_start: ``(T + 1,) int64`` where each part's groups start in ``part_groups``.
        input_owner: ``(rows of syn0,) int32`` which part adds the updates of each input row.
        delta: ``(T, capacity, d) float32`` scratch, ``capacity`` ≥ the pairs of ``step``
            consecutive groups of any part.
        delta_row: ``(T, capacity) int32`` scratch.

    Returns:
        ``(loss float64, pairs int)``.
    """
    threads = delta.shape[0]
    groups = centre.shape[0]
    losses = np.zeros(threads)
    pairs = np.zeros(threads, dtype=np.int64)
    entries = np.zeros(threads, dtype=np.int64)
    longest = 0
    for part in range(threads):
        longest = max(longest, part_start[part + 1] - part_start[part])
    for first in range(0, longest, step):
        for part in numba.prange(threads):
            begin = min(part_start[part] + first, part_start[part + 1])
            end = min(begin + step, part_start[part + 1])
            loss, done, used = _train_part(
                syn0, syn1, centre, offsets, context, negatives, lr_from, lr_to, groups,
                part_groups, begin, end, delta[part], delta_row[part], output_touches)
            losses[part] += loss
            pairs[part] += done
            entries[part] = used
        for part in numba.prange(threads):
            _apply_part(syn0, delta, delta_row, entries, input_owner, part, input_touches)
    total = 0.0
    for part in range(threads):  # in part order: the same float every run
        total += losses[part]
    return total, pairs.sum()


@numba.njit(cache=True, nogil=True)
def alias_table(scaled):  # pragma: no cover - compiled
    """Walker's alias table over weights ``scaled`` to a mean of 1 (``float64``, changed in
    place), as :func:`w2v_spark.sgns.sampling.build_noise_table` builds it — the same pairing,
    compiled: a table per thread's part is built for every call of
    :func:`w2v_spark.sgns.kernel.train_windows`. Returns ``(probability float64, alias int32)``."""
    size = scaled.shape[0]
    probability = np.ones(size)
    alias = np.arange(size).astype(np.int32)
    small = np.empty(size, dtype=np.int64)
    large = np.empty(size, dtype=np.int64)
    n_small = 0
    n_large = 0
    for i in range(size):
        if scaled[i] < 1.0:
            small[n_small] = i
            n_small += 1
        else:
            large[n_large] = i
            n_large += 1
    while n_small > 0 and n_large > 0:
        n_small -= 1
        lo = small[n_small]
        hi = large[n_large - 1]
        probability[lo] = scaled[lo]
        alias[lo] = hi
        scaled[hi] -= 1.0 - scaled[lo]
        if scaled[hi] < 1.0:
            n_large -= 1
            small[n_small] = hi
            n_small += 1
    for k in range(n_small):
        probability[small[k]] = 1.0
        alias[small[k]] = small[k]
    for k in range(n_large):
        probability[large[k]] = 1.0
        alias[large[k]] = large[k]
    return probability, alias


@numba.njit(cache=True, nogil=True)
def window_groups(stream, bounds, reach):  # pragma: no cover - compiled
    """The windows of :func:`w2v_spark.sgns.kernel.sample_windows`, from what it drew: ``stream`` the
    kept word ids, ``bounds`` the documents' boundaries in it, ``reach`` each kept word's
    window radius. The same arrays as its NumPy formulation, in two passes instead of a dozen
    temporaries of the stream's length. Returns ``(centre int32, offsets int64, context int32)``."""
    groups = 0
    pairs = 0
    for doc in range(bounds.shape[0] - 1):
        for position in range(bounds[doc], bounds[doc + 1]):
            left = max(bounds[doc], position - reach[position])
            right = min(bounds[doc + 1] - 1, position + reach[position])
            if right > left:
                groups += 1
                pairs += right - left
    centre = np.empty(groups, dtype=np.int32)
    offsets = np.empty(groups + 1, dtype=np.int64)
    context = np.empty(pairs, dtype=np.int32)
    group = 0
    pair = 0
    offsets[0] = 0
    for doc in range(bounds.shape[0] - 1):
        for position in range(bounds[doc], bounds[doc + 1]):
            left = max(bounds[doc], position - reach[position])
            right = min(bounds[doc + 1] - 1, position + reach[position])
            if right <= left:
                continue
            centre[group] = stream[position]
            for other in range(left, right + 1):
                if other != position:
                    context[pair] = stream[other]
                    pair += 1
            group += 1
            offsets[group] = pair
    return centre, offsets, context
