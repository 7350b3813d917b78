"""Intrinsic evaluation: word-pair similarity (Spearman ρ) and analogies (accuracy), no Spark.

The protocol is gensim's ``KeyedVectors.evaluate_word_pairs`` / ``evaluate_word_analogies``
(case-insensitive, out-of-vocabulary items skipped and counted, analogies answered by 3CosAdd over
the ``restrict`` most frequent words, the question words excluded), so numbers are comparable with
published gensim results — a test checks they are equal on the same vectors.

The default suite ships in the package: WordSim-353, SimLex-999 and the Google analogy set
(``questions-words.txt``).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from scipy import stats

from w2v_spark.vectors.embeddings import Embeddings

DEFAULT_PAIRS = ("wordsim353.tsv", "simlex999.txt")
DEFAULT_ANALOGIES = ("questions-words.txt",)
DEFAULT_RESTRICT = 30000


def packaged(name: str) -> str:
    """Path of a benchmark file shipped in ``w2v_spark/data/eval``."""
    return str(resources.files("w2v_spark").joinpath("data", "eval", name))


@dataclass
class PairsResult:
    name: str
    spearman: float
    pearson: float
    pairs: int
    oov: int

    @property
    def oov_ratio(self) -> float:
        return self.oov / max(1, self.pairs + self.oov)


@dataclass
class Section:
    name: str
    correct: int
    total: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


@dataclass
class AnalogyResult:
    name: str
    sections: list[Section]
    questions: int
    oov: int
    method: str = "3cosadd"
    restrict: int = DEFAULT_RESTRICT
    totals: dict = field(default_factory=dict)

    def __post_init__(self):
        def total(sections):
            correct = sum(s.correct for s in sections)
            answered = sum(s.total for s in sections)
            return {"correct": correct, "total": answered, "accuracy": correct / answered if answered else 0.0}

        syntactic = [s for s in self.sections if s.name.startswith("gram")]
        semantic = [s for s in self.sections if not s.name.startswith("gram")]
        self.totals = {"all": total(self.sections), "semantic": total(semantic),
                       "syntactic": total(syntactic)}

    @property
    def accuracy(self) -> float:
        return self.totals["all"]["accuracy"]

    @property
    def oov_ratio(self) -> float:
        return self.oov / max(1, self.questions)


def _vocabulary(emb: Embeddings, restrict: int | None) -> dict[str, int]:
    """Upper-cased word → id over the first ``restrict`` words; the most frequent spelling wins."""
    words = emb.words[:restrict] if restrict else emb.words
    return {w.upper(): i for i, w in reversed(list(enumerate(words)))}


def evaluate_pairs(emb: Embeddings, path: str, name: str | None = None) -> PairsResult:
    """Spearman (and Pearson) correlation between human scores and cosine similarities.

    File: one ``word1 word2 score`` per line, tab or space separated; ``#`` starts a comment.
    """
    vocab = _vocabulary(emb, None)
    gold, model, oov = [], [], 0
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t") if "\t" in line else line.split()
            try:
                a, b, score = (p.strip().upper() for p in parts)
                score = float(score)
            except ValueError:
                continue
            if a not in vocab or b not in vocab:
                oov += 1
                continue
            gold.append(score)
            # float32, as gensim keeps it: Pearson's r then agrees to the last bit
            model.append(emb.similarity32(emb.words[vocab[a]], emb.words[vocab[b]]))
    if len(gold) < 2:
        raise ValueError(f"{path}: fewer than two pairs with both words in the vocabulary")
    return PairsResult(name or Path(path).name, float(stats.spearmanr(gold, model)[0]),
                       float(stats.pearsonr(gold, model)[0]), len(gold), oov)


def evaluate_analogies(emb: Embeddings, path: str, restrict: int = DEFAULT_RESTRICT,
                       method: str = "3cosadd", name: str | None = None) -> AnalogyResult:
    """Accuracy on ``a b c d`` questions (``: section`` headers), word2vec's questions-words format.

    A question counts when all four words are among the ``restrict`` most frequent; the answer is
    the best word other than ``a``, ``b``, ``c`` in that range.
    """
    vocab = _vocabulary(emb, restrict)
    sections: list[Section] = []
    questions = oov = 0
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            if line.startswith(": "):
                sections.append(Section(line[2:].strip(), 0, 0))
                continue
            words = [w.upper() for w in line.split()]
            if len(words) != 4:
                continue
            if not sections:
                raise ValueError(f"{path}: a question before the first ': section' header")
            questions += 1
            if any(w not in vocab for w in words):
                oov += 1
                continue
            a, b, c, expected = (emb.words[vocab[w]] for w in words)
            answers = emb.analogy(a, b, c, topn=5, method=method, restrict=restrict)
            predicted = next((w.upper() for w, _ in answers
                              if w.upper() in vocab and w.upper() not in words[:3]), None)
            sections[-1].total += 1
            sections[-1].correct += predicted == words[3]
    return AnalogyResult(name or Path(path).name, sections,
                         questions, oov, method, restrict)


def evaluate(emb: Embeddings, pairs=None, analogies=None, restrict: int = DEFAULT_RESTRICT,
             method: str = "3cosadd") -> dict:
    """Run a suite (the packaged one by default) and return a JSON-ready report."""
    pairs = list(pairs) if pairs else [packaged(n) for n in DEFAULT_PAIRS]
    analogies = list(analogies) if analogies else [packaged(n) for n in DEFAULT_ANALOGIES]
    report = {"vocabulary_size": len(emb), "restrict": restrict, "method": method,
              "pairs": [], "analogies": []}
    for path in pairs:
        result = evaluate_pairs(emb, path)
        report["pairs"].append({**asdict(result), "oov_ratio": result.oov_ratio})
    for path in analogies:
        result = evaluate_analogies(emb, path, restrict=restrict, method=method)
        report["analogies"].append({
            "name": result.name, "questions": result.questions, "oov": result.oov,
            "oov_ratio": result.oov_ratio, "accuracy": result.accuracy, "totals": result.totals,
            "sections": [{**asdict(s), "accuracy": s.accuracy} for s in result.sections],
        })
    return report


def summary_table(reports: dict[str, dict]) -> str:
    """Markdown table of one or more reports (method name → report), one column per method."""
    names = list(reports)
    rows = []
    first = reports[names[0]]
    for i, pair in enumerate(first["pairs"]):
        cells = [f"{r['pairs'][i]['spearman']:.3f}" for r in reports.values()]
        rows.append((f"{pair['name']} Spearman ρ (OOV {100 * pair['oov_ratio']:.1f} %)", cells))
    for i, analogy in enumerate(first["analogies"]):
        for part in ("all", "semantic", "syntactic"):
            cells = [f"{100 * r['analogies'][i]['totals'][part]['accuracy']:.1f} %" for r in reports.values()]
            label = f"{analogy['name']} {part} (OOV {100 * analogy['oov_ratio']:.1f} %)" if part == "all" \
                else f"{analogy['name']} {part}"
            rows.append((label, cells))
    lines = ["| benchmark | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows]
    return "\n".join(lines)


# -- quality gate ---------------------------------------------------------------------------------

_REQUIREMENT = re.compile(
    r"^\s*(?:(?P<method>[\w-]+)/)?(?P<benchmark>[\w.-]+?)\.(?P<statistic>\w+)\s*"
    r"(?P<op>>=|<=)\s*(?P<bound>[-+0-9.eE]+)\s*$")
#: Statistics a requirement can name: per pair set, and per analogy set (fractions, not percent).
PAIR_STATISTICS = ("spearman", "pearson", "oov_ratio")
ANALOGY_STATISTICS = ("accuracy", "semantic", "syntactic", "oov_ratio")


@dataclass(frozen=True)
class Requirement:
    """One quality-gate condition, e.g. ``wordsim353.spearman>=0.30`` or
    ``sgns/questions-words.accuracy>=0.05``: ``[METHOD/]BENCHMARK.STATISTIC (>=|<=) NUMBER``.
    The benchmark is the file name without its extension; without a method it applies to every
    evaluated method."""

    text: str
    method: str | None
    benchmark: str
    statistic: str
    op: str
    bound: float

    @classmethod
    def parse(cls, text: str) -> Requirement:
        match = _REQUIREMENT.match(text)
        if not match:
            raise ValueError(f"requirement {text!r}: expected [METHOD/]BENCHMARK.STATISTIC>=NUMBER "
                             "(or <=), e.g. wordsim353.spearman>=0.3")
        statistic = match["statistic"]
        if statistic not in PAIR_STATISTICS + ANALOGY_STATISTICS:
            raise ValueError(f"requirement {text!r}: unknown statistic {statistic!r}; one of "
                             f"{sorted(set(PAIR_STATISTICS + ANALOGY_STATISTICS))}")
        try:
            bound = float(match["bound"])
        except ValueError:
            raise ValueError(f"requirement {text!r}: {match['bound']!r} is not a number") from None
        return cls(text.strip(), match["method"], match["benchmark"], statistic, match["op"], bound)


def benchmark_name(entry: dict) -> str:
    """A report entry's benchmark as requirements name it: its file name without extension."""
    return Path(entry["name"]).stem


def headline(report: dict) -> dict[str, float]:
    """benchmark → Spearman ρ (pair sets) or accuracy (analogy sets) of one method's report."""
    values = {benchmark_name(p): p["spearman"] for p in report["pairs"]}
    values.update({benchmark_name(a): a["accuracy"] for a in report["analogies"]})
    return values


def measured(report: dict, benchmark: str, statistic: str) -> float:
    """The value of ``benchmark.statistic`` in one method's :func:`evaluate` report.

    Raises:
        KeyError: no such benchmark or statistic in the report (message lists what there is).
    """
    for pair in report["pairs"]:
        if benchmark_name(pair) == benchmark and statistic in PAIR_STATISTICS:
            return float(pair[statistic])
    for analogy in report["analogies"]:
        if benchmark_name(analogy) == benchmark and statistic in ANALOGY_STATISTICS:
            if statistic in ("semantic", "syntactic"):
                return float(analogy["totals"][statistic]["accuracy"])
            return float(analogy[statistic])
    names = [benchmark_name(entry) for entry in report["pairs"] + report["analogies"]]
    raise KeyError(f"no {benchmark}.{statistic} in the evaluation (benchmarks: {', '.join(names)})")


def check_requirement_names(requirements: list[Requirement], methods, pairs, analogies) -> None:
    """Before any evaluation runs: every requirement names an evaluated method (when it names
    one), a benchmark of the suite (file names without extension) and a statistic that benchmark
    has. ``pairs`` / ``analogies``: the suite's files.

    Raises:
        ValueError: the first requirement that names something the evaluation will not produce.
    """
    pair_names = {Path(p).stem for p in pairs}
    analogy_names = {Path(a).stem for a in analogies}
    for requirement in requirements:
        if requirement.method is not None and requirement.method not in methods:
            raise ValueError(f"requirement {requirement.text!r}: no method {requirement.method!r} "
                             f"to evaluate ({', '.join(methods)})")
        if requirement.benchmark in pair_names:
            statistics = PAIR_STATISTICS
        elif requirement.benchmark in analogy_names:
            statistics = ANALOGY_STATISTICS
        else:
            raise ValueError(f"requirement {requirement.text!r}: no benchmark "
                             f"{requirement.benchmark!r} in the suite "
                             f"({', '.join(sorted(pair_names | analogy_names))})")
        if requirement.statistic not in statistics:
            raise ValueError(f"requirement {requirement.text!r}: {requirement.benchmark} has no "
                             f"{requirement.statistic!r} (it has {', '.join(statistics)})")


def check_requirements(reports: dict[str, dict], requirements: list[Requirement]) -> list[str]:
    """The requirements that ``reports`` (method → report) fail, one readable line each
    (empty when all hold).

    Raises:
        KeyError: a requirement names a method or benchmark that was not evaluated.
    """
    failures = []
    for requirement in requirements:
        if requirement.method is not None and requirement.method not in reports:
            raise KeyError(f"requirement {requirement.text!r}: no method {requirement.method!r} "
                           f"was evaluated ({', '.join(reports)})")
        methods = [requirement.method] if requirement.method else list(reports)
        for method in methods:
            value = measured(reports[method], requirement.benchmark, requirement.statistic)
            holds = value >= requirement.bound if requirement.op == ">=" else value <= requirement.bound
            if not holds:
                failures.append(f"{method} {requirement.benchmark}.{requirement.statistic} = "
                                f"{value:.4f}, required {requirement.op} {requirement.bound:g}")
    return failures
