"""``report --run DIR``: one self-contained HTML page (charts inlined) plus the charts as PNGs.

Shows the SGNS loss and speed per epoch, the evaluation table (every method of the run side by
side), nearest neighbours of a few frequent words, and a 2-D PCA map of word groups. Needs the
``report`` extra (matplotlib).
"""

from __future__ import annotations

import base64
import html
import json
import logging
import os
import shutil
import uuid
from pathlib import Path

import numpy as np

from w2v_spark.errors import ConfigError, OutputError
from w2v_spark.vectors.embeddings import Embeddings, find_methods
from w2v_spark.vectors.evaluation import evaluate, summary_table

log = logging.getLogger(__name__)

#: Word groups for the map; words missing from the vocabulary are skipped.
GROUPS = {
    "countries": ["france", "germany", "italy", "spain", "russia", "china", "japan", "england", "egypt"],
    "capitals": ["paris", "berlin", "rome", "madrid", "moscow", "beijing", "tokyo", "london", "cairo"],
    "numbers": ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"],
    "family": ["father", "mother", "son", "daughter", "brother", "sister", "wife", "husband", "uncle"],
}
DEFAULT_WORDS = ["king", "war", "money", "god", "father", "freedom", "america", "sword", "woman", "love"]


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ConfigError("report needs matplotlib: pip install 'w2v_spark[report]'") from None
    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def _png(figure, path: Path) -> str:
    figure.savefig(path, dpi=110, bbox_inches="tight")
    return base64.b64encode(path.read_bytes()).decode("ascii")


def _training_chart(epochs: list[dict], path: Path) -> str:
    plt = _pyplot()
    figure, (loss, speed) = plt.subplots(1, 2, figsize=(9, 3.2))
    numbers = [e["epoch"] for e in epochs]
    loss.plot(numbers, [e["loss_per_pair"] for e in epochs], marker="o", color="#1f6feb")
    loss.set(title="SGNS loss per training pair", xlabel="epoch", ylabel="loss")
    speed.bar(numbers, [e["words_per_sec"] / 1e3 for e in epochs], color="#2da44e")
    speed.set(title="training speed", xlabel="epoch", ylabel="thousand corpus words / s")
    for axis in (loss, speed):
        axis.set_xticks(numbers)
        axis.grid(alpha=0.3)
    figure.tight_layout()
    encoded = _png(figure, path)
    plt.close(figure)
    return encoded


def _map_chart(emb: Embeddings, title: str, path: Path, groups: dict[str, list[str]]) -> str | None:
    """Words of ``groups`` projected on the first two principal components of their vectors."""
    plt = _pyplot()
    chosen = [(group, w) for group, words in groups.items() for w in words if w in emb]
    if len(chosen) < 3:
        return None
    unit = emb.unit[[emb.index[w] for _, w in chosen]].astype(np.float64)
    centred = unit - unit.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    points = centred @ components[:2].T
    figure, axis = plt.subplots(figsize=(6.5, 5))
    palette = ["#cf222e", "#1f6feb", "#2da44e", "#8250df", "#bf8700", "#1b7c83", "#6e7781"]
    colours = {group: palette[i % len(palette)] for i, group in enumerate(groups)}
    for group in groups:
        mask = [g == group for g, _ in chosen]
        if any(mask):
            axis.scatter(points[mask, 0], points[mask, 1], color=colours[group], label=group, s=28)
    for (group, word), (x, y) in zip(chosen, points, strict=True):
        axis.annotate(word, (x, y), fontsize=8, xytext=(3, 3), textcoords="offset points",
                      color=colours[group])
    axis.set(title=f"{title}: word groups, PCA of unit vectors", xticks=[], yticks=[])
    axis.legend(loc="best", fontsize=8)
    encoded = _png(figure, path)
    plt.close(figure)
    return encoded


def _table(markdown: str) -> str:
    rows = [line.strip("|").split("|") for line in markdown.splitlines() if not line.startswith("|---")]
    head, body = rows[0], rows[1:]
    out = ["<table><thead><tr>" + "".join(f"<th>{html.escape(c.strip())}</th>" for c in head) + "</tr></thead><tbody>"]
    out += ["<tr>" + "".join(f"<td>{html.escape(c.strip())}</td>" for c in row) + "</tr>" for row in body]
    return "\n".join(out) + "</tbody></table>"


STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;color:#1f2328;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem} h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d0d7de}
.meta{color:#59636e} table{border-collapse:collapse;margin:.5rem 0} td,th{border:1px solid #d0d7de;padding:.3rem .6rem;text-align:left}
th{background:#f6f8fa} .grid{display:flex;flex-wrap:wrap;gap:1rem} .nn td:first-child{font-weight:600}
img{max-width:100%}
"""


def write_report(run_dir: str | os.PathLike, words: list[str] | None = None,
                 groups: dict[str, list[str]] | None = None) -> Path:
    """Write ``run_dir/report/index.html`` (images inlined) and its PNGs, replacing the whole
    directory; returns the page path.

    ``words``: whose neighbours to list (default :data:`DEFAULT_WORDS`); ``groups``: name → words
    for the map (default :data:`GROUPS`). Words missing from the vocabulary are skipped, and those
    the caller named are logged.

    Raises:
        OutputError: ``run_dir`` is not writable, or writing failed (the previous report stays).
    """
    run = Path(run_dir)
    if not (run / "_SUCCESS").is_file():
        raise FileNotFoundError(f"{run} is not a complete run directory (no _SUCCESS)")
    if not os.access(run, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write the report: {run} is not writable")
    manifest = json.loads((run / "_manifest.json").read_text())
    methods = {name: Embeddings.load(path) for name, path in find_methods(run).items()}
    _warn_missing(methods, words, groups)
    # Built in a hidden directory, then swapped in whole: no file of an earlier report (a map of
    # a group left out this time) survives, and a failure leaves the previous report as it was.
    run_id = uuid.uuid4().hex[:12]
    staging, aside = run / f".report._staging-{run_id}", run / f".report._previous-{run_id}"
    final = run / "report"
    try:
        staging.mkdir()
        _write_pages(run, staging, manifest, methods, words, groups)
        if final.exists():
            final.rename(aside)
        staging.rename(final)
    except BaseException as err:
        shutil.rmtree(staging, ignore_errors=True)
        if aside.exists() and not final.exists():
            aside.rename(final)
        if isinstance(err, OSError):
            raise OutputError(f"cannot write the report into {run}: {err.strerror or err}") from None
        raise
    shutil.rmtree(aside, ignore_errors=True)
    return final / "index.html"


def _warn_missing(methods: dict[str, Embeddings], words: list[str] | None,
                  groups: dict[str, list[str]] | None) -> None:
    """Say which of the words the user asked for no method knows (they are left out)."""
    def unknown(candidates):
        return [w for w in candidates if not any(w in emb for emb in methods.values())]

    if words and (missing := unknown(words)):
        log.warning("report: not in the vocabulary, no neighbours listed: %s", ", ".join(missing))
    for name, members in (groups or {}).items():
        missing = unknown(members)
        if len(missing) == len(members):
            log.warning("report: group %r has no word in the vocabulary (%s); it is not on the "
                        "map", name, ", ".join(missing))
        elif missing:
            log.warning("report: group %r: not in the vocabulary: %s", name, ", ".join(missing))


def _write_pages(run: Path, out: Path, manifest: dict, methods: dict[str, Embeddings],
                 words: list[str] | None, groups: dict[str, list[str]] | None) -> None:
    """The report's files into the (new, empty) directory ``out``."""

    evaluation_file = run / "evaluation.json"
    if evaluation_file.is_file():
        saved = json.loads(evaluation_file.read_text())
        reports = {name: saved[name] for name in methods if name in saved} or saved
    else:
        try:
            reports = {name: evaluate(emb) for name, emb in methods.items()}
        except ValueError as err:  # the default benchmarks do not cover this vocabulary
            reports = {}
            uncovered = str(err)
    parts = [f"<h1>w2v_spark run: {html.escape(run.name)}</h1>"]
    corpus, vocabulary = manifest.get("corpus", {}), manifest.get("vocabulary", {})
    parts.append(
        f"<p class='meta'>{corpus.get('tokens', 0):,} corpus tokens · {vocabulary.get('size', 0):,} words · "
        f"methods: {', '.join(methods)} · finished {html.escape(str(manifest.get('finished_at', '?')))}</p>"
    )
    epochs = manifest.get("training", {}).get("epochs")
    if epochs:
        chart = _training_chart(epochs, out / "training.png")
        parts.append("<h2>Training (SGNS)</h2>"
                     f"<img alt='loss and speed per epoch' src='data:image/png;base64,{chart}'>")
    if reports:
        parts.append("<h2>Evaluation</h2>" + _table(summary_table(reports)))
    else:
        parts.append(f"<h2>Evaluation</h2><p>Not evaluated: {html.escape(uncovered)}. Run "
                     "<code>python -m w2v_spark evaluate</code> with benchmarks for this vocabulary.</p>")

    words = words or DEFAULT_WORDS
    parts.append("<h2>Nearest neighbours</h2><div class='grid'>")
    for name, emb in methods.items():
        present = [w for w in words if w in emb][:8]
        rows = "".join(
            f"<tr><td>{html.escape(w)}</td><td>"
            + ", ".join(f"{html.escape(n)} <small>{s:.2f}</small>" for n, s in emb.most_similar(w, topn=6))
            + "</td></tr>" for w in present
        )
        parts.append(f"<div><h3>{html.escape(name)}</h3><table class='nn'>{rows}</table></div>")
    parts.append("</div><h2>Word groups</h2><div class='grid'>")
    for name, emb in methods.items():
        chart = _map_chart(emb, name, out / f"map_{name}.png", groups or GROUPS)
        if chart:
            parts.append(f"<img alt='PCA map, {name}' src='data:image/png;base64,{chart}' width='520'>")
    parts.append("</div>")
    page = out / "index.html"
    page.write_text("<!doctype html><html><head><meta charset='utf-8'><title>w2v_spark report</title>"
                    f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>\n", encoding="utf-8")
