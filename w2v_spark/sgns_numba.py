"""Optional compiled SGNS kernel (``pip install 'w2v_spark[numba]'``, ``[sgns] kernel``).

The same model and the same random draws as the NumPy reference kernel (:mod:`w2v_spark.sgns`):
negatives are drawn by the caller, all at once per call of ``train_windows``. The difference is
only when updates land: this kernel applies each centre's updates before the next centre is read
(as word2vec does), where the NumPy kernel applies a whole step of centres at once. With
``batch_centers = 1`` the two agree to float rounding (a test checks it).

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


# fastmath lets LLVM vectorise the dot products; the numpy error model lets a diverging run
# produce NaN (caught by the driver with a hint) instead of raising ZeroDivisionError in a task.
@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def train_groups(syn0, syn1, centre, offsets, context, negatives, first, last, lr_from, lr_to,
                 groups_total, input_touches, output_touches):  # pragma: no cover - compiled
    """Train groups ``first:last`` of a :class:`~w2v_spark.sgns.Windows`, one centre at a time.

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
        d_out[:, :] = 0.0
        likelihood = 1.0
        for j in range(start, stop):
            row = context[j]
            d_in[j - start, :] = 0.0
            for k in range(width):
                out = outputs[k]
                if k > 0 and out == target:
                    continue  # word2vec skips a negative that is the centre itself
                score = np.float32(0.0)
                for i in range(dim):
                    score += syn0[row, i] * syn1[out, i]
                q, err = _pair_error(score, k == 0, lr)
                likelihood, loss = _add_likelihood(likelihood, q, loss)
                for i in range(dim):
                    d_in[j - start, i] += err * syn1[out, i]
                    d_out[k, i] += err * syn0[row, i]
            pairs += 1
        loss -= math.log(likelihood)
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
