import sys

from w2v_spark.cli import main

sys.exit(main())
