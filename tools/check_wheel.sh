#!/usr/bin/env bash
# The package as a user gets it: builds the sdist, builds the wheel from the
# unpacked sdist alone (so the sdist holds everything a build needs, and the
# build requirements come from pyproject.toml, in an isolated environment),
# repairs it into a portable manylinux wheel with its OpenMP runtime inside
# (auditwheel + patchelf), installs that into a fresh virtual environment with
# no build tools, and runs the README's examples, `pyoptim rules` and a short
# benchmark report there, from the repository root as a user would.
# CI runs it (.ci/run); about 3 minutes on 2 cores.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python=${PYTHON:-python}

"$python" -m build --sdist --outdir "$work/sdist" "$repo" >"$work/sdist.log" 2>&1 || { cat "$work/sdist.log"; exit 1; }
tar -xzf "$work"/sdist/*.tar.gz -C "$work"
source_dir=$(echo "$work"/pyoptim-*/)
"$python" -m build --wheel --outdir "$work/wheel" "$source_dir" >"$work/wheel.log" 2>&1 || { cat "$work/wheel.log"; exit 1; }
"$python" -m auditwheel repair --wheel-dir "$work/repaired" "$work"/wheel/*.whl
"$python" -m auditwheel show "$work"/repaired/*.whl | tee "$work/show.txt"
wheel=$(ls "$work"/repaired/*.whl)
case "$wheel" in *manylinux*) ;; *) echo "check_wheel: not a manylinux wheel: $wheel"; exit 1 ;; esac
unzip -l "$wheel" | grep -q 'pyoptim.libs/libgomp' || { echo "check_wheel: libgomp is not vendored"; exit 1; }

"$python" -m venv "$work/venv"
venv_python="$work/venv/bin/python"
"$venv_python" -m pip install --quiet "$wheel"
for tool in cmake ninja g++ cc; do  # nothing in the new environment could build the package
  if [ -x "$work/venv/bin/$tool" ]; then echo "check_wheel: $tool in the fresh venv"; exit 1; fi
done
"$venv_python" "$repo/tools/readme_examples.py"
"$work/venv/bin/pyoptim" rules
# The benchmark report after a plain install, run from the repository root (the
# source tree's pyoptim, without its compiled core, must not shadow the wheel's).
"$venv_python" -m pip install --quiet pytest pytest-benchmark threadpoolctl
(cd "$repo" && "$venv_python" bench/report.py -k "test_overhead and 16 and pyoptim" --out "$work/RESULTS.md")
grep -q "Overhead" "$work/RESULTS.md"
echo "check_wheel: ok ($(basename "$wheel"))"
