"""Keep the README's demo output true: ``make demo`` saves what it prints, and this compares it
with the README's marked block (exit 1 and a diff when they differ) or writes it there.

    python tools/readme_demo.py check OUTPUT.txt   # make demo runs this last
    python tools/readme_demo.py update OUTPUT.txt  # after a change that moves the numbers

The block sits between ``<!-- demo-output -->`` and ``<!-- /demo-output -->`` in README.md,
inside a fenced code block, exactly as the commands printed it.
"""

from __future__ import annotations

import difflib
import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"(<!-- demo-output -->\n```text\n)(.*?)(```\n<!-- /demo-output -->)", re.S)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("check", "update"):
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: python tools/readme_demo.py check|update OUTPUT.txt", file=sys.stderr)
        return 2
    action, printed = argv[0], Path(argv[1]).read_text(encoding="utf-8")
    readme = README.read_text(encoding="utf-8")
    found = BLOCK.search(readme)
    if found is None:
        print(f"error: no <!-- demo-output --> block in {README}", file=sys.stderr)
        return 2
    shown = found.group(2)
    if action == "update":
        README.write_text(readme[: found.start(2)] + printed + readme[found.end(2):],
                          encoding="utf-8")
        print(f"README.md: demo output {'unchanged' if shown == printed else 'updated'}")
        return 0
    if shown == printed:
        print("README.md shows what the demo printed.")
        return 0
    sys.stderr.writelines(difflib.unified_diff(
        shown.splitlines(keepends=True), printed.splitlines(keepends=True),
        "README.md (demo-output)", "make demo printed"))
    print("error: README.md's demo output differs from what make demo printed; if the change is "
          "intended, run: python tools/readme_demo.py update output/demo/demo.txt",
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
