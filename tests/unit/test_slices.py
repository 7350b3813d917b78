"""The files that carry the model between the stages of executor-resident training, without a
JVM: who holds which rows (layouts), slice files written for one layout and read by its
trainers, and the model's first rows drawn by whoever holds them."""

import numpy as np
import pytest

from w2v_spark.sgns.slices import (
    INPUT,
    OUTPUT,
    IdRanges,
    StratumLayout,
    initial_rows,
    read_all,
    read_slices,
    sources,
    write_slices,
)
from w2v_spark.sgns.strata import Deal, assign_buckets
from w2v_spark.sgns.train import initial_model
from w2v_spark.spark.files import FileSystem


@pytest.mark.parametrize(("lo", "hi"), [(0, 7), (1, 5), (3, 101), (100, 101), (40, 40)])
def test_any_rows_of_the_first_model_are_those_of_one_generator_drawing_it_whole(lo, hi):
    # vector_size 7 is odd: every other row starts in the middle of a 64-bit step.
    whole = np.random.default_rng(np.random.SeedSequence([9, 0x5EED])).random((101, 7),
                                                                            dtype=np.float32)
    np.testing.assert_array_equal(initial_rows(lo, hi, 7, 9), (whole[lo:hi] - 0.5) / 7)
    np.testing.assert_array_equal(initial_model(101, 7, 9)[0][lo:hi], initial_rows(lo, hi, 7, 9))


def _deal(vocab, parts, seed):
    mass = np.arange(vocab, 0, -1).astype(float)
    return Deal.of(assign_buckets(mass, parts, np.random.default_rng(seed)), parts)


@pytest.mark.parametrize("kind", [INPUT, OUTPUT])
def test_layouts_give_every_row_one_holder_and_each_holder_its_rows(kind):
    vocab, parts = 53, 4
    for layout in (IdRanges(vocab, parts), StratumLayout(_deal(vocab, parts, 1), 3, parts)):
        holders = layout.holders(kind, np.arange(vocab))
        for trainer in range(parts):
            np.testing.assert_array_equal(layout.words(kind, trainer),
                                          np.flatnonzero(holders == trainer))
    # Stratum s: trainer b holds the output rows of bucket b, the input rows of bucket b + s.
    deal = _deal(vocab, parts, 2)
    layout = StratumLayout(deal, 1, parts)
    np.testing.assert_array_equal(layout.words(OUTPUT, 2), deal.words(2))
    np.testing.assert_array_equal(layout.words(INPUT, 2), deal.words(3))


def test_each_stage_reads_its_rows_from_the_files_of_the_stage_before(tmp_path):
    """A model moved through three layouts (id ranges → a stratum → the next stratum of a new
    deal → id ranges), each trainer writing one file and reading only from the trainers that
    hold some of its rows, comes out as it went in."""
    vocab, parts, dim = 41, 3, 5
    rng = np.random.default_rng(4)
    model = rng.random((2, vocab, dim), dtype=np.float32)
    fs = FileSystem(str(tmp_path))
    layouts = [IdRanges(vocab, parts), StratumLayout(_deal(vocab, parts, 7), 0, parts),
               StratumLayout(_deal(vocab, parts, 7), 1, parts),
               StratumLayout(_deal(vocab, parts, 8), 0, parts), IdRanges(vocab, parts)]
    held = {t: [model[k][layouts[0].words(k, t)] for k in (INPUT, OUTPUT)] for t in range(parts)}
    read_from = []
    for step in range(1, len(layouts)):
        previous, following = layouts[step - 1], layouts[step]
        for trainer in range(parts):
            words = tuple(previous.words(kind, trainer) for kind in (INPUT, OUTPUT))
            write_slices(fs, str(tmp_path / f"{step}-{trainer}.bin"), following, words,
                         held[trainer])
        for trainer in range(parts):
            words = tuple(following.words(kind, trainer) for kind in (INPUT, OUTPUT))
            found = sources(previous, words)
            read_from.append(len(found))
            held[trainer] = read_slices(fs, [str(tmp_path / f"{step}-{s}.bin") for s in found],
                                        trainer, words, dim)
            for kind in (INPUT, OUTPUT):
                np.testing.assert_array_equal(held[trainer][kind], model[kind][words[kind]])
    # Within a round a trainer reads two files (its own output rows, its neighbour's input
    # rows), not all of them.
    assert read_from[parts : 2 * parts] == [2] * parts
    whole = read_all(fs, [str(tmp_path / f"4-{t}.bin") for t in range(parts)], vocab, dim)
    np.testing.assert_array_equal(np.stack(whole), model)


def test_a_trainer_refuses_files_that_do_not_hold_its_rows(tmp_path):
    vocab, parts, dim = 12, 2, 3
    ranges = IdRanges(vocab, parts)
    fs = FileSystem(str(tmp_path))
    rows = np.ones((6, dim), np.float32)
    write_slices(fs, str(tmp_path / "0.bin"), ranges, (np.arange(6), np.arange(6)), (rows, rows))
    words = (ranges.words(INPUT, 0), ranges.words(OUTPUT, 0))
    got = read_slices(fs, [str(tmp_path / "0.bin")], 0, words, dim)
    assert got[0].shape == (6, dim) and got[0].flags.writeable
    with pytest.raises(RuntimeError, match="found 0 rows of matrix 0"):
        read_slices(fs, [str(tmp_path / "0.bin")], 1, (ranges.words(INPUT, 1), None), dim)
    with pytest.raises(RuntimeError, match="not a slice file"):
        read_slices(fs, [str(tmp_path / "0.bin")], 0, words, dim + 1)
