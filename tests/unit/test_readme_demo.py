"""tools/readme_demo.py: the README's demo block against what `make demo` printed."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "readme_demo.py"


def _shown() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- demo-output -->\n```text\n") + len("<!-- demo-output -->\n```text\n")
    return readme[start : readme.index("```\n<!-- /demo-output -->")]


def _check(printed: str, tmp_path) -> subprocess.CompletedProcess:
    output = tmp_path / "demo.txt"
    output.write_text(printed, encoding="utf-8")
    return subprocess.run([sys.executable, str(TOOL), "check", str(output)], capture_output=True,
                          text=True, timeout=60)


def test_the_readme_shows_a_demo_block_with_neighbours_and_scores():
    shown = _shown()
    assert shown.startswith("skip-gram (output/demo/sgns)\nfreedom: ")
    assert "PPMI-SVD (output/demo/ppmi_svd)\n" in shown and "| wordsim353.tsv Spearman ρ" in shown


def test_the_same_output_passes_and_a_drifted_one_fails_with_a_diff(tmp_path):
    shown = _shown()
    assert _check(shown, tmp_path).returncode == 0
    drifted = shown.replace("freedom: ", "freedom: drift 0.99, ", 1)
    failed = _check(drifted, tmp_path)
    assert failed.returncode == 1
    assert "+freedom: drift 0.99" in failed.stderr and "readme_demo.py update" in failed.stderr


@pytest.mark.parametrize("argv", [[], ["check"], ["verify", "x"]])
def test_usage_errors_exit_2(argv):
    done = subprocess.run([sys.executable, str(TOOL), *argv], capture_output=True, text=True)
    assert done.returncode == 2 and "usage:" in done.stderr
