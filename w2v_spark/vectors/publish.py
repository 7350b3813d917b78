"""Publish a finished, evaluated run: atomically point a small JSON file at it.

Consumers (dashboards, downstream jobs, analysts) read the pointer to find the current embeddings
instead of guessing the newest ``run_date=…`` directory. The pointer only moves forward: publishing
an older label (an Airflow backfill of last month) leaves a newer pointer alone, and publishing the
run it already names changes nothing, so a retried or re-run publish task is harmless.

Local or mounted paths only (like ``evaluate``): the pointer is replaced with ``os.replace``.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from w2v_spark.errors import InputDataError, OutputError
from w2v_spark.vectors.evaluation import headline

log = logging.getLogger(__name__)


def publish(run: str | Path, pointer: str | Path, label: str | None = None) -> dict:
    """Point ``pointer`` at ``run`` (a committed run directory with ``evaluation.json``).

    Returns the pointer's content (the one already in place when nothing changed).

    Raises:
        InputDataError: ``run`` is not a complete run (no ``_SUCCESS``) or was not evaluated.
        OutputError: the pointer cannot be written (nothing is left beside it).
    """
    run = Path(run).absolute()
    pointer = Path(pointer).absolute()
    if not (run / "_SUCCESS").is_file():
        raise InputDataError(f"cannot publish {run}: not a complete run (no _SUCCESS)")
    if not (run / "evaluation.json").is_file():
        raise InputDataError(f"cannot publish {run}: no evaluation.json; run `evaluate` first")
    manifest = json.loads((run / "_manifest.json").read_text())
    label = label or run.name
    current = json.loads(pointer.read_text()) if pointer.is_file() else None
    if current is not None:
        if current.get("path") == str(run) and current.get("run_id") == manifest.get("run_id"):
            log.info("%s already points at %s; nothing to do", pointer, run)
            return current
        if str(current.get("label", "")) > label:
            log.warning("%s points at the newer %s; not moving it back to %s",
                        pointer, current.get("label"), label)
            return current
    content = {
        "path": str(run), "label": label, "run_id": manifest.get("run_id"),
        "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "evaluation": {method: {name: round(value, 4) for name, value in headline(report).items()}
                       for method, report in json.loads((run / "evaluation.json").read_text()).items()},
    }
    partial = pointer.with_name(f".{pointer.name}.partial")
    try:
        pointer.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n")
        os.replace(partial, pointer)
    except OSError as err:
        partial.unlink(missing_ok=True)
        raise OutputError(f"cannot write the pointer {pointer}: {err.strerror or err}") from None
    log.info("published %s (label %s) → %s", run, label, pointer)
    return content
