"""Every Python example in README.md runs as written (tools/readme_examples.py)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import readme_examples  # noqa: E402

EXAMPLES = readme_examples.examples()


def test_the_readme_has_examples():
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize("number", range(1, len(EXAMPLES) + 1))
def test_readme_example_runs(number):
    """Example `number`, after the examples before it, as a reader runs them."""
    done = readme_examples.run(readme_examples.session(number, EXAMPLES))
    assert done.returncode == 0, f"{EXAMPLES[number - 1]}\n{done.stderr}"
