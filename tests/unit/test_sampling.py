"""Alias-table noise sampler (Walker/Vose): exact table and a chi-square test at a fixed seed."""

import math

import numpy as np
import pytest

from w2v_spark.sgns.sampling import build_noise_table


def _chi_square_sf(statistic: float, dof: int) -> float:
    """Upper tail of the chi-square distribution (Wilson–Hilferty normal approximation)."""
    z = ((statistic / dof) ** (1 / 3) - (1 - 2 / (9 * dof))) / math.sqrt(2 / (9 * dof))
    return 0.5 * math.erfc(z / math.sqrt(2))


def test_table_encodes_counts_to_the_power_075_exactly():
    counts = np.array([1000, 300, 120, 50, 7, 1, 1, 0, 2], dtype=np.int64)
    table = build_noise_table(counts, 0.75)
    target = counts**0.75 / (counts**0.75).sum()
    np.testing.assert_allclose(table.distribution(), target, atol=1e-12)
    assert table.probability.dtype == np.float64 and table.alias.dtype == np.int32


def test_samples_pass_chi_square_against_target():
    rng = np.random.default_rng(20261122)
    counts = rng.zipf(1.5, 200).astype(np.float64)
    table = build_noise_table(counts, 0.75)
    n = 2_000_000
    draws = table.sample(np.random.default_rng(1), n)
    observed = np.bincount(draws, minlength=counts.size)
    expected = n * counts**0.75 / (counts**0.75).sum()
    statistic = float(((observed - expected) ** 2 / expected).sum())
    p_value = _chi_square_sf(statistic, counts.size - 1)
    # Measured at this seed: statistic 225.2 on 199 degrees of freedom, p = 0.098. A wrong table
    # (plain unigram counts) gives a statistic of 941,203 and p = 0.
    assert p_value > 0.01, (statistic, p_value)
    wrong = n * counts / counts.sum()
    assert _chi_square_sf(float(((observed - wrong) ** 2 / wrong).sum()), counts.size - 1) < 1e-6


def test_exponent_zero_is_uniform_and_one_is_unigram():
    counts = np.array([8.0, 4.0, 2.0, 1.0, 1.0])
    np.testing.assert_allclose(build_noise_table(counts, 0.0).distribution(), 0.2, atol=1e-12)
    np.testing.assert_allclose(build_noise_table(counts, 1.0).distribution(), counts / 16, atol=1e-12)


def test_single_word_and_bad_counts():
    table = build_noise_table(np.array([5]))
    assert set(table.sample(np.random.default_rng(0), 100).tolist()) == {0}
    with pytest.raises(ValueError, match="non-empty"):
        build_noise_table(np.array([]))
    with pytest.raises(ValueError, match="non-negative"):
        build_noise_table(np.array([3, -1]))
    with pytest.raises(ValueError, match="positive"):
        build_noise_table(np.array([0, 0]))


def test_sampling_is_reproducible_per_seed():
    table = build_noise_table(np.arange(1, 100))
    a = table.sample(np.random.default_rng(9), (50, 5))
    b = table.sample(np.random.default_rng(9), (50, 5))
    assert a.shape == (50, 5) and np.array_equal(a, b)


def test_draws_do_not_depend_on_the_chunk_size(monkeypatch):
    """Draws are made a chunk at a time; the chunk size is a cache tuning knob and must not change
    which words come out (a checkpointed run resumed by a newer version must see the same stream)."""
    from w2v_spark.sgns import sampling

    table = build_noise_table(np.arange(1, 3000))
    shape = (3 * sampling._CHUNK // 5 + 7, 5)  # several chunks and a partial one
    big = table.sample(np.random.default_rng(4), shape)
    monkeypatch.setattr(sampling, "_CHUNK", 1000)
    small = table.sample(np.random.default_rng(4), shape)
    assert big.shape == shape and big.dtype == np.int32
    assert np.array_equal(big, small)
    assert table.sample(np.random.default_rng(4), (0, 5)).shape == (0, 5)
