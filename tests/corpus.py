"""A small synthetic corpus with known structure, written to disk by the tests that need one."""

import random

TOPICS = {
    "animals": ["cat", "dog", "horse", "cow", "sheep", "goat", "mouse", "bird"],
    "vehicles": ["car", "truck", "bus", "train", "plane", "boat", "bike", "tram"],
    "food": ["bread", "cheese", "apple", "soup", "rice", "pasta", "cake", "pear"],
}
FUNCTION_WORDS = ["the", "a", "and", "with", "of", "near", "then"]


def write_topic_corpus(path, lines: int = 1500, seed: int = 0) -> None:
    """Each line mixes words of one topic with function words, in random case and punctuation."""
    rng = random.Random(seed)
    names = sorted(TOPICS)
    with open(path, "w", encoding="utf-8") as out:
        for i in range(lines):
            topic = TOPICS[names[i % len(names)]]
            words = [
                rng.choice(topic) if rng.random() < 0.6 else rng.choice(FUNCTION_WORDS)
                for _ in range(rng.randint(6, 14))
            ]
            words[0] = words[0].capitalize()
            out.write(" ".join(words) + rng.choice([".", "!", "?", ","]) + "\n")


def topic_separation(emb) -> tuple[float, float]:
    """Mean cosine between words of the same topic, and between words of different topics."""
    import numpy as np

    groups = [[emb.index[w] for w in words] for words in TOPICS.values()]
    cos = emb.unit @ emb.unit.T
    same = np.mean([cos[np.ix_(g, g)][~np.eye(len(g), dtype=bool)].mean() for g in groups])
    cross = np.mean([cos[np.ix_(a, b)].mean() for i, a in enumerate(groups) for b in groups[i + 1:]])
    return float(same), float(cross)
