"""spark-submit entry point for the count-based branch: ``spark-submit jobs/ppmi_embeddings.py
--config conf/X.toml --input PATH --output DIR [--set ppmi.window=2 ...]`` (same arguments as
``python -m w2v_spark ppmi``)."""

import sys

from w2v_spark.cli import main

if __name__ == "__main__":
    sys.exit(main(["ppmi", *sys.argv[1:]]))
