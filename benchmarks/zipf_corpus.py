"""A synthetic corpus whose vocabulary has exactly ``--words`` words that pass ``min_count``: for
models of a chosen size (``words × vector_size × 4`` bytes per matrix) without a corpus that big.

    python -m benchmarks.zipf_corpus --words 1000000 --out zipf-1m.txt [--min-count 5]

Word ``w<i>`` occurs ``max(min_count, round(C / (i + 1)))`` times (Zipf's law with a floor at
``min_count``, so every word is kept); the tokens are shuffled with a fixed seed and cut into
lines of 20. 1,000,000 words: ≈ 7.0 M tokens, 60 MB; 100,000: 2.5 M; 10,000: 2.0 M.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def zipf_counts(words: int, min_count: int, head: int) -> np.ndarray:
    """``(words,) int64``: ``head`` occurrences of the most frequent word, ``head / (i + 1)``
    of word ``i``, never fewer than ``min_count``."""
    counts = np.rint(head / np.arange(1, words + 1)).astype(np.int64)
    return np.maximum(counts, min_count)


def write_corpus(path: str, words: int, min_count: int = 5, head: int = 200_000,
                 line_tokens: int = 20, seed: int = 1) -> int:
    """Write the corpus; returns its number of tokens."""
    counts = zipf_counts(words, min_count, head)
    tokens = np.repeat(np.arange(words, dtype=np.int32), counts)
    np.random.default_rng(seed).shuffle(tokens)
    with open(path, "w", encoding="ascii") as out:
        for start in range(0, tokens.size, line_tokens):
            out.write(" ".join(f"w{t}" for t in tokens[start:start + line_tokens].tolist()))
            out.write("\n")
    return int(tokens.size)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.zipf_corpus")
    parser.add_argument("--words", type=int, required=True)
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    tokens = write_corpus(args.out, args.words, args.min_count)
    print(f"{args.out}: {args.words:,} words, {tokens:,} tokens")
    return 0


if __name__ == "__main__":
    sys.exit(main())
