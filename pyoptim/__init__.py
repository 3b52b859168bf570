"""pyoptim: fast CPU optimizer kernels for NumPy.

Optimizers (``SGD``, ``Adam``, ``AdamW``, ``Adagrad``, ``RMSprop``,
``Adadelta``, ``NAdam``, ``RAdam``, ``Adamax``, ``Lion``, ``Rprop``, ``ASGD``,
``LAMB``, ``LARS``, ``AdamWScheduleFree``, ``SGDScheduleFree``, ``SparseAdam``;
``pyoptim.Optimizer.registry`` has them all) update NumPy arrays in place
with vectorised, multi-threaded C++ kernels whose instruction set (portable,
AVX2+FMA, AVX-512) is chosen once, at import. Set ``PYOPTIM_SIMD`` to
``generic``, ``avx2`` or ``avx512`` before import to cap it, and
``PYOPTIM_NUM_THREADS`` to set the default thread count.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path

# OpenMP's idle workers spin for a long while after each parallel step (libgomp:
# about 300,000 rounds). Between optimizer steps the cores belong to the rest of
# the training loop -- above all to the BLAS threads of the next forward pass --
# and spinning workers slowed an MNIST epoch many times over. A short spin keeps
# back-to-back steps fast; the user's own setting wins.
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = "3000"

from . import _checks, _core  # noqa: E402

__version__ = "0.1.0"


def _select_from_environment() -> None:
    limit = os.environ.get("PYOPTIM_SIMD", "").strip().lower()
    try:
        _core.select_simd(limit)
    except ValueError as e:
        warnings.warn(f"PYOPTIM_SIMD ignored: {e}", RuntimeWarning, stacklevel=3)
        _core.select_simd("")
    threads = os.environ.get("PYOPTIM_NUM_THREADS", "").strip()
    if threads:
        try:
            _core.set_num_threads(int(threads))
        except ValueError:
            warnings.warn(f"PYOPTIM_NUM_THREADS ignored: expected an integer >= 1, got {threads!r}",
                          RuntimeWarning, stacklevel=3)


_select_from_environment()


def simd_info() -> dict:
    """Which kernel build runs (``active``), which this binary holds (``compiled``)
    and which this CPU can run (``supported``), plus ``openmp`` and ``threads``."""
    info = _core.simd_info()
    info["threads"] = _core.get_num_threads()
    info["requested"] = os.environ.get("PYOPTIM_SIMD", "") or None
    return info


def set_num_threads(threads: int) -> None:
    """Threads the kernels may use (OpenMP); small updates always run on one."""
    _core.set_num_threads(_checks.integer("threads", threads, min=1))


def get_num_threads() -> int:
    return _core.get_num_threads()


@contextlib.contextmanager
def num_threads(threads: int | None):
    """``with pyoptim.num_threads(2): ...`` runs the block with that many kernel
    threads and restores the previous count after (``None``: leave it as it is)."""
    previous = get_num_threads()
    if threads is not None:
        set_num_threads(threads)
    try:
        yield
    finally:
        _core.set_num_threads(previous)


def set_flush_denormal(enabled: bool) -> None:
    """Flush denormal numbers to zero in every update (FTZ/DAZ on x86, FZ on aarch64),
    on every thread of a step, whatever the calling thread's mode.

    Off by default: updates are IEEE-exact, as torch.optim's and the NumPy
    reference's. An update always runs in the calling thread's mode otherwise, so
    ``torch.set_flush_denormal(True)`` (which sets only the calling thread) flushes
    in pyoptim's worker threads too. Why turn it on: moments decaying where
    gradients stop (dead units, rare inputs) end up denormal, and on x86 each vector
    instruction that meets a denormal takes a slow microcode assist
    (``bench/test_denormals.py`` measures the effect on MNIST). Flushing changes
    only values below 1.2e-38 (float32) or 2.2e-308 (float64)."""
    if not isinstance(enabled, (bool, int)) or enabled not in (0, 1):
        raise TypeError(f"enabled: expected True or False, got {enabled!r}")
    _core.set_flush_denormal(bool(enabled))


def get_flush_denormal() -> bool:
    return _core.get_flush_denormal()


def get_include() -> str:
    """Directory of the C++ kernel headers (``#include <pyoptim/rules.hpp>``)."""
    installed = Path(__file__).parent / "include"
    if installed.is_dir():
        return str(installed)
    return str(Path(__file__).resolve().parent.parent / "csrc" / "include")  # editable install


from . import kernels, lr_scheduler, memory, optim, reference  # noqa: E402
from .flat import FlatParameters  # noqa: E402
from .memory import aligned_like, empty_aligned, zeros_aligned  # noqa: E402
from .optim import *  # noqa: E402,F401,F403  (Optimizer and every rule's classes, from the registry)

__all__ = [*optim.__all__,
           "FlatParameters", "kernels", "lr_scheduler", "memory", "reference", "aligned_like",
           "empty_aligned", "zeros_aligned", "simd_info",
           "set_num_threads", "get_num_threads", "num_threads", "set_flush_denormal", "get_flush_denormal", "get_include"]
