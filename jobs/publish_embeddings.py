"""spark-submit entry point: ``spark-submit jobs/publish_embeddings.py ARGS`` (same arguments as
``python -m w2v_spark publish``). Starts no Spark session; it exists so that schedulers which only
know how to spark-submit (Airflow's SparkSubmitOperator) can run this step too."""

import sys

from w2v_spark.cli import main

if __name__ == "__main__":
    sys.exit(main(["publish", *sys.argv[1:]]))
