"""The Airflow DAG, for real: Airflow installed in its own virtualenv (as on a scheduler), the DAG
imported with ``DagBag``, and whole runs with ``airflow dags test`` whose SparkSubmitOperator tasks
spark-submit our jobs against a local Spark on the packaged demo corpus."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from w2v_spark.cli import demo_corpus_path

pytestmark = pytest.mark.airflow

REPO = Path(__file__).resolve().parents[2]
AIRFLOW_VENV = REPO / ".venv-airflow"
AIRFLOW_REQUIREMENTS = ["apache-airflow==3.3.2", "apache-airflow-providers-apache-spark==6.3.4"]

# Two epochs keep the run short; its vectors are weak, which the default gate must catch.
TEST_CONFIG = """\
[spark]
master = "local[2]"
partitions = 2
[vocab]
min_count = 5
[sgns]
epochs = 2
[pipeline]
methods = ["sgns", "ppmi_svd"]
"""

DAGBAG_PROBE = """\
import json
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=FOLDER)
dag = bag.get_dag("w2v_embeddings")
print(json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "tasks": {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks} if dag else {},
    "operators": {t.task_id: type(t).__name__ for t in dag.tasks} if dag else {},
    "retries": {t.task_id: t.retries for t in dag.tasks} if dag else {},
    "args": {t.task_id: list(t.application_args) for t in dag.tasks} if dag else {},
    "schedule": str(dag.schedule) if dag else None,
}))
"""


@pytest.fixture(scope="module")
def airflow(tmp_path_factory):
    """``(airflow venv's bin dir, environment)``; the venv is built once and reused across runs."""
    marker = AIRFLOW_VENV / ".installed"
    wanted = "\n".join(AIRFLOW_REQUIREMENTS)
    if not marker.is_file() or marker.read_text() != wanted:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(AIRFLOW_VENV)], check=True)
        subprocess.run([str(AIRFLOW_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet",
                        *AIRFLOW_REQUIREMENTS], check=True)
        marker.write_text(wanted)
    home = tmp_path_factory.mktemp("airflow_home")
    output_root = tmp_path_factory.mktemp("airflow_runs")
    config = home / "job.toml"
    config.write_text(TEST_CONFIG)
    env = dict(
        os.environ,
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "jobs" / "airflow"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW_CONN_SPARK_DEFAULT=json.dumps({"conn_type": "spark", "host": "local[2]"}),
        W2V_CONFIG=str(config), W2V_CORPUS=demo_corpus_path(), W2V_OUTPUT_ROOT=str(output_root),
        # spark-submit and the Python workers come from this project's environment.
        PATH=f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}",
        PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable,
    )
    bin_dir = AIRFLOW_VENV / "bin"
    subprocess.run([str(bin_dir / "airflow"), "db", "migrate"], env=env, check=True,
                   capture_output=True)
    return bin_dir, env, output_root


def test_dagbag_imports_the_dag(airflow):
    bin_dir, env, _ = airflow
    probe = subprocess.run(
        [str(bin_dir / "python"), "-c", f"FOLDER = {str(REPO / 'jobs' / 'airflow')!r}\n" + DAGBAG_PROBE],
        env=env, check=True, capture_output=True, text=True)
    dag = json.loads(probe.stdout.strip().splitlines()[-1])
    assert dag["errors"] == {}
    assert dag["tasks"] == {"train": ["evaluate"], "evaluate": ["publish"], "publish": []}
    assert set(dag["operators"].values()) == {"SparkSubmitOperator"}
    # Transient failures are retried; a failed quality gate is not.
    assert dag["retries"] == {"train": 2, "evaluate": 0, "publish": 2}
    train_args = dag["args"]["train"]
    assert "--resume" in train_args
    assert "{{ params.output_root }}/run_date={{ ds }}" in train_args
    assert dag["schedule"] == "@daily"


def _dags_test(airflow, date: str, conf: dict | None = None) -> subprocess.CompletedProcess:
    bin_dir, env, _ = airflow
    command = [str(bin_dir / "airflow"), "dags", "test", "w2v_embeddings", date]
    if conf is not None:
        command += ["--conf", json.dumps(conf)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=False)


def test_quality_gate_fails_the_run_and_publishes_nothing(airflow):
    _, _, output_root = airflow
    result = _dags_test(airflow, "2026-11-01")  # the DAG's default gate
    log = result.stdout + result.stderr
    run_dir = output_root / "run_date=2026-11-01"
    # Measured: two epochs on the demo corpus give skip-gram WS353 ρ 0.054 < the default 0.15.
    assert "quality gate failed: sgns wordsim353.spearman" in log, log[-3000:]
    assert "DagRun Finished" in log and "state=failed" in log
    assert (run_dir / "_SUCCESS").is_file()  # train succeeded ...
    assert (run_dir / "evaluation.json").is_file()  # ... evaluate said why ...
    assert not (output_root / "LATEST.json").exists()  # ... and publish never ran


def test_dag_run_trains_evaluates_and_publishes(airflow):
    _, _, output_root = airflow
    # Measured for this config: PPMI-SVD WS353 ρ 0.361, skip-gram 0.054.
    gate = ["ppmi_svd/wordsim353.spearman>=0.30", "sgns/wordsim353.spearman>=0.03"]
    result = _dags_test(airflow, "2026-11-01", {"quality_gate": gate})
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert "state=success" in log
    run_dir = output_root / "run_date=2026-11-01"
    latest = json.loads((output_root / "LATEST.json").read_text())
    manifest = json.loads((run_dir / "_manifest.json").read_text())
    assert latest["path"] == str(run_dir)
    assert latest["label"] == "2026-11-01"
    assert latest["run_id"] == manifest["run_id"]  # the rerun replaced the first run's output
    assert latest["evaluation"]["ppmi_svd"]["wordsim353"] >= 0.30
    assert sorted(p.name for p in output_root.iterdir()) == ["LATEST.json", "run_date=2026-11-01"]
