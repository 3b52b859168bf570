#!/usr/bin/env bash
# Builds pyoptim with AddressSanitizer and UndefinedBehaviorSanitizer into its
# own virtual environment and runs the test suite against that build. Any
# sanitizer report fails the run (UBSan aborts on the first finding; ASan
# reports memory errors; leak checking is off because CPython itself
# does not free everything at exit).
#
#   bash tools/sanitize.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
venv=build/asan-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet -Ccmake.define.PYOPTIM_SANITIZE=ON -Cbuild-dir=build/asan -e ".[test]"
# torch too, so that pyoptim.torch's C++ plan (csrc/bindings/torch_plan.cpp) runs sanitized;
# without it those tests skip.
"$venv/bin/python" -c "import torch" 2>/dev/null || "$venv/bin/python" -m pip install --quiet torch==2.13.0 \
  || echo "sanitize: no torch; the pyoptim.torch tests skip"

asan_runtime=$(g++ -print-file-name=libasan.so)
ubsan_runtime=$(g++ -print-file-name=libubsan.so)
export LD_PRELOAD="$asan_runtime $ubsan_runtime"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
"$venv/bin/python" -m pytest -p no:cacheprovider -q "$@"
