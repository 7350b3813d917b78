"""spark-submit entry point: ``spark-submit jobs/train_embeddings.py --config conf/X.toml
--input PATH --output DIR [--set section.key=value ...]`` (same arguments as
``python -m w2v_spark train``)."""

import sys

from w2v_spark.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
