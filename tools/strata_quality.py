"""Quality of stratified training at many partitions, in one process, without Spark.

    python tools/strata_quality.py --corpus bench-en.txt.gz --partitions 1,8,16,32,64 \
        --rounds 2 --seeds 1,2,3,4,5 [--threads 1] [--set section.key=value ...]

Runs the production task functions of a stratified epoch (``stratum.cut_blocks`` cuts each data
partition's windows into blocks, ``stratum.train_stratum`` trains a trainer's block on its two
slices of the model) stratum after stratum in this process, on the whole model, as Spark runs
them, without the files that carry blocks and slices between Spark's tasks (the equivalence
test ``tests/spark/test_stratified.py`` checks that Spark's epoch is this computation, bit for
bit). Documents are dealt to partitions and ordered by a hash of their
tokens, as ``corpus.pack.spread_documents`` does (another hash than Spark's: other bits, the same
statistics). Prints one line per (partitions, seed) and a Markdown table of means.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections import Counter, defaultdict

import numpy as np

from benchmarks.bench import REFERENCE_TOKENIZATION, evaluate_vectors, read_documents
from w2v_spark.config import load_config
from w2v_spark.sgns.kernel import TrainSettings, Windows
from w2v_spark.sgns.plan import EpochPlan, Tables
from w2v_spark.sgns.strata import Deal, assign_buckets, unpack_block
from w2v_spark.sgns.stratum import cut_blocks, slice_words, train_stratum
from w2v_spark.sgns.train import initial_model


class Held:
    """Stands in for a broadcast: ``.value``."""

    def __init__(self, value):
        self.value = value


def partition_arrays(encoded: list[np.ndarray], keys: list[int], partitions: int):
    """``[(ids, offsets)]`` per partition: documents dealt by ``key % partitions``, in key order."""
    parts = defaultdict(list)
    for key, ids in sorted(zip(keys, range(len(encoded)), strict=True)):
        parts[key % partitions].append(encoded[ids])
    out = []
    for p in range(partitions):
        docs = parts[p]
        ids = np.concatenate(docs) if docs else np.zeros(0, np.int32)
        offsets = np.concatenate(([0], np.cumsum([d.shape[0] for d in docs]))).astype(np.int64)
        out.append((ids, offsets))
    return out


def train(parts, tables: Tables, settings: TrainSettings, vocab: int, dim: int, epochs: int,
          seed: int, rounds: int):
    syn0, syn1 = initial_model(vocab, dim, seed)
    partitions = len(parts)
    mass = tables.counts * tables.keep_probability
    for epoch in range(epochs):
        plan = EpochPlan(settings=settings, seed=seed, epoch=epoch, epochs=epochs,
                         partitions=partitions, rounds=rounds)
        deals = [Deal.of(assign_buckets(mass, partitions, plan.rng(2**31, r)), partitions)
                 for r in range(rounds)]
        blocks = defaultdict(list)  # a key's pieces in (partition, corpus) order
        for index, part in enumerate(parts):
            for key, _, packed in cut_blocks(index, [part], tables=Held(tables), deals=deals,
                                             plan=plan):
                blocks[key].append(unpack_block(packed))
        for stage in range(rounds * partitions):
            round_index, stratum = divmod(stage, partitions)
            for trainer in range(partitions):
                input_words, output_words = slice_words(deals[round_index], trainer, stratum,
                                                         partitions)
                s0, s1 = syn0[input_words], syn1[output_words]
                train_stratum(trainer, Windows.concatenate(blocks.pop(stage * partitions + trainer,
                                                                      [])),
                              s0, s1, deal=deals[round_index], table=tables, plan=plan,
                              round_index=round_index, stratum=stratum)
                syn0[input_words], syn1[output_words] = s0, s1
    return syn0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--partitions", default="1,8,16,32,64")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args(argv)
    config = load_config(None, [f"{key}={value}" for key, value in REFERENCE_TOKENIZATION.items()]
                         + args.set)
    s, v = config.sgns, config.vocab
    documents = read_documents(args.corpus, config)
    counter = Counter(w for d in documents for w in d)
    words = sorted((w for w, c in counter.items() if c >= v.min_count),
                   key=lambda w: (-counter[w], w))
    index = {w: i for i, w in enumerate(words)}
    counts = np.array([counter[w] for w in words], dtype=np.int64)
    encoded = [np.array([index[w] for w in d if w in index], np.int32) for d in documents]
    keys = [int.from_bytes(hashlib.blake2b(" ".join(d).encode(), digest_size=8).digest(), "little")
            for d in documents]
    threshold = v.sample * counts.sum()
    keep = np.minimum(1.0, (np.sqrt(counts / threshold) + 1) * threshold / counts)
    tables = Tables.build(counts, keep, s.ns_exponent)
    settings = TrainSettings(s.window, s.negative, s.alpha, s.min_alpha, s.batch_centers,
                             kernel=s.resolved_kernel(), threads=s.resolved_threads(1))
    rows = []
    for partitions in [int(p) for p in args.partitions.split(",")]:
        parts = partition_arrays(encoded, keys, partitions)
        for seed in [int(x) for x in args.seeds.split(",")]:
            t0 = time.perf_counter()
            syn0 = train(parts, tables, settings, len(words), s.vector_size, s.epochs, seed,
                         args.rounds if partitions > 1 else 1)
            scores = evaluate_vectors(words, syn0)
            rows.append((partitions, seed, *scores))
            print(f"P={partitions} seed={seed}: analogy {scores[0]:.4f} ws353 {scores[1]:.4f} "
                  f"simlex {scores[2]:.4f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    print("\n| partitions | rounds | seeds | analogy | WS353 ρ | SimLex ρ |\n|---|---|---|---|---|---|")
    for partitions in sorted({r[0] for r in rows}):
        mine = np.array([r[2:] for r in rows if r[0] == partitions])
        print(f"| {partitions} | {args.rounds if partitions > 1 else 1} | {len(mine)} | "
              f"{100 * mine[:, 0].mean():.2f} % | {mine[:, 1].mean():.4f} | {mine[:, 2].mean():.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
