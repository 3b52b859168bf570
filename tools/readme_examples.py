"""Runs every ```python block of README.md in a fresh interpreter, each after the
blocks before it (as a reader runs them: later examples may use what earlier
ones defined), so that the README cannot drift from the API
(tests/test_readme.py and tools/check_wheel.sh run it; the latter against the
installed wheel).

    python tools/readme_examples.py          # run them all; exit 1 on the first failure
    python tools/readme_examples.py --list   # print them
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def examples(readme: Path = README) -> list[str]:
    return BLOCK.findall(readme.read_text())


def session(number: int, blocks: list[str] | None = None) -> str:
    """Example `number` (from 1) with the examples before it, as one program."""
    blocks = examples() if blocks is None else blocks
    return "\n".join(blocks[:number])


def run(code: str, python: str = sys.executable) -> subprocess.CompletedProcess:
    """Runs `code` in a fresh `python`, in an empty directory (so that the source
    tree is never imported in place of the installed package)."""
    with tempfile.TemporaryDirectory() as cwd:
        return subprocess.run([python, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=600)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", action="store_true", help="print the examples instead of running them")
    parser.add_argument("--python", default=sys.executable, help="the interpreter to run them with")
    args = parser.parse_args(argv)
    blocks = examples()
    if not blocks:
        print("README.md has no ```python block", file=sys.stderr)
        return 1
    for number, code in enumerate(blocks, 1):
        if args.list:
            print(f"# --- example {number}\n{code}")
            continue
        done = run(session(number, blocks), args.python)
        if done.returncode != 0:
            print(f"README example {number} failed:\n{code}\n{done.stderr}", file=sys.stderr)
            return 1
        print(f"README example {number}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
