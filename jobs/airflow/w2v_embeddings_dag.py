"""Airflow DAG ``w2v_embeddings``: train → evaluate (quality gate) → publish, once a day.

Each run writes ``<output_root>/run_date=<ds>/`` (committed atomically by the job itself), then
evaluates it and fails the run if a quality requirement is not met, and only then moves
``<output_root>/LATEST.json`` to it. Every task can be retried or cleared and rerun safely:

* ``train`` passes ``--resume`` (continue after the newest epoch checkpoint of a killed attempt;
  starts from scratch when there is none) and ``output.on_existing = "overwrite"`` (a rerun of a
  finished date replaces it atomically; readers never see a half-written directory);
* ``evaluate`` rewrites ``evaluation.json`` and exits 5 when the gate fails (no retries: the same
  vectors give the same numbers);
* ``publish`` does nothing when the pointer already names this run, and never moves it back to an
  older date (backfills do not un-publish today's vectors).

Deployment settings are read from the environment when the scheduler parses this file:

=====================  ==========================================================================
``W2V_HOME``           directory holding ``jobs/`` and ``conf/`` (default: this repository)
``W2V_SPARK_CONN_ID``  Airflow connection of the Spark master (default ``spark_default``)
``W2V_ENV_ARCHIVE``    ``w2v_env.tar.gz`` from ``make dist``; shipped with ``--archives`` and used
                       as the executors' Python (unset: executors use their own Python)
``W2V_CONFIG``         job config TOML (default ``$W2V_HOME/conf/default.toml``)
``W2V_CORPUS``         corpus path or glob (text, .gz, or Parquet)
``W2V_OUTPUT_ROOT``    where ``run_date=…/`` directories and ``LATEST.json`` go
=====================  ==========================================================================

The last three and the quality gate are DAG params, so a manual trigger can override them
(``airflow dags trigger w2v_embeddings -c '{"quality_gate": ["wordsim353.spearman>=0.4"]}'``).
``evaluate`` and ``publish`` read and write ``output_root`` with local file operations: use a
local or mounted path there (``train`` itself writes to any Hadoop file system).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

try:  # Airflow 3
    from airflow.sdk import DAG, Param
except ImportError:  # Airflow 2.x
    from airflow.models import DAG
    from airflow.models.param import Param

HOME = Path(os.environ.get("W2V_HOME", Path(__file__).resolve().parents[2]))
CONN_ID = os.environ.get("W2V_SPARK_CONN_ID", "spark_default")
ENV_ARCHIVE = os.environ.get("W2V_ENV_ARCHIVE", "")

#: Quality gate: ``[METHOD/]BENCHMARK.STATISTIC>=X`` (see ``python -m w2v_spark evaluate --help``).
#: The defaults sit well below what the shipped configs reach on English text (demo corpus:
#: WordSim-353 ρ .26 skip-gram / .36 PPMI-SVD; bench-en: .44 / .54) and catch a broken run.
DEFAULT_GATE = ["wordsim353.spearman>=0.15", "simlex999.spearman>=0.05"]

# Ship the packed environment to the executors and run their Python from it; the driver (client
# mode, on the Airflow worker) uses the Python that spark-submit finds.
archive_settings = {}
if ENV_ARCHIVE:
    archive_settings = {"archives": f"{ENV_ARCHIVE}#environment",
                        "conf": {"spark.pyspark.python": "./environment/bin/python"}}

RUN_DIR = "{{ params.output_root }}/run_date={{ ds }}"

with DAG(
    dag_id="w2v_embeddings",
    description="Word embeddings with w2v_spark: train → evaluate (quality gate) → publish",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # runs share LATEST.json and the cluster
    default_args={
        "owner": "data-platform",
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
        "retry_exponential_backoff": True,
    },
    params={
        "config": Param(os.environ.get("W2V_CONFIG", str(HOME / "conf" / "default.toml")), type="string"),
        "corpus": Param(os.environ.get("W2V_CORPUS", ""), type="string", minLength=1),
        "output_root": Param(os.environ.get("W2V_OUTPUT_ROOT", ""), type="string", minLength=1),
        "quality_gate": Param(DEFAULT_GATE, type="array", items={"type": "string"}),
    },
    tags=["w2v_spark", "embeddings"],
) as dag:
    def spark_job(task_id: str, job: str, arguments: list[str], **options) -> SparkSubmitOperator:
        """spark-submit ``jobs/<job>.py`` with ``arguments`` (templated)."""
        return SparkSubmitOperator(
            task_id=task_id, conn_id=CONN_ID, application=str(HOME / "jobs" / f"{job}.py"),
            name=f"w2v_embeddings-{task_id}-{{{{ ds }}}}", application_args=arguments, **options)

    train = spark_job(
        "train", "train_embeddings",
        ["--config", "{{ params.config }}", "--input", "{{ params.corpus }}", "--output", RUN_DIR,
         "--resume", "--set", "output.on_existing=overwrite"],
        execution_timeout=timedelta(hours=12), **archive_settings,
    )
    evaluate = spark_job(
        "evaluate", "evaluate_embeddings",
        ["--embeddings", RUN_DIR, "--require", "{{ params.quality_gate | join(',') }}"],
        retries=0,  # a failed gate is a verdict, not a transient error
    )
    publish = spark_job(
        "publish", "publish_embeddings",
        ["--run", RUN_DIR, "--pointer", "{{ params.output_root }}/LATEST.json", "--label", "{{ ds }}"],
    )

    train >> evaluate >> publish
