"""The command line's own answers (no JVM): version, and help that offers only what works."""

from importlib import metadata

import pytest

from w2v_spark.cli import main


def _help(command: str, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def test_version_is_the_installed_packages(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"w2v_spark {metadata.version('w2v_spark')}"


def test_only_train_offers_resume(capsys):
    assert "--resume" in _help("train", capsys)
    assert "--resume" not in _help("ppmi", capsys)
    assert main(["ppmi", "--output", "x", "--resume"]) == 2  # refused as a usage error


def test_the_quality_gate_example_in_the_help_is_quoted_for_the_shell(capsys):
    assert "--require 'wordsim353.spearman>=0.3," in _help("evaluate", capsys)
