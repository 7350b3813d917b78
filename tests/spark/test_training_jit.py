"""``[spark] training_jit``: the driver JVM's C2 compiler is held back while SGNS trains."""

import pytest

from w2v_spark.session import _diagnostic_command, training_jit


def _c2_excluded(spark) -> bool:
    """Whether the JVM's active (top) compiler directive excludes every method from C2."""
    listing = _diagnostic_command(spark, "compilerDirectivesPrint")
    top = listing.split("Directive:")[1]  # directives print top of the stack first
    c2 = top.split("c2 directives:")[1]
    return "matching: *.*" in top and "Exclude:true" in c2


def test_c1_setting_excludes_c2_while_training_and_restores_it(spark):
    assert not _c2_excluded(spark)
    with training_jit(spark, "c1"):
        assert _c2_excluded(spark)
    assert not _c2_excluded(spark)


def test_directive_is_removed_when_training_fails(spark):
    with pytest.raises(RuntimeError, match="diverged"):
        with training_jit(spark, "c1"):
            raise RuntimeError("diverged")
    assert not _c2_excluded(spark)


def test_default_setting_leaves_the_jvm_alone(spark):
    with training_jit(spark, "default"):
        assert not _c2_excluded(spark)
