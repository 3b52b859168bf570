"""Adafactor, Muon and LBFGS against torch.optim's (issue 13's speed items).

Run from the repository root::

    python bench/matrix_rules.py          # ~1-2 minutes on 2 cores; writes bench/matrix_rules.md

Adafactor: state bytes per parameter and step time of pyoptim (NumPy API) vs
torch.optim.Adafactor (foreach, its default on CPU). Muon: one step's time split
into the kernel's momentum pass, the Newton-Schulz matrix products (NumPy's BLAS,
float32) and the apply pass, vs torch.optim.Muon (bfloat16 products). Medians of
alternating blocks in one run (bench/timing.py); LBFGS: one full-batch step
against torch's with the same closure. The file is generated, never edited by hand.
"""

from __future__ import annotations

import datetime
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import block_medians  # noqa: E402

import pyoptim
from pyoptim import _core
from pyoptim.optim.muon import adjusted_lr, newton_schulz

HERE = Path(__file__).resolve().parent
SHAPES = [(784, 128), (1024, 1024), (1024, 4096)]


def median_seconds(f, repeats: int = 15) -> float:
    f()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def paired(a, b, blocks: int = 5, repeats: int = 5) -> tuple:
    """Median seconds of a and of b, timed in alternating blocks (bench/timing.py)."""
    a(), b()
    medians = block_medians({"a": a, "b": b}, blocks, repeats)
    return statistics.median(medians["a"]), statistics.median(medians["b"])


def adafactor_rows(torch) -> list:
    rows = []
    for shape in SHAPES:
        rng = np.random.default_rng(0)
        p = rng.standard_normal(shape).astype(np.float32)
        g = rng.standard_normal(shape).astype(np.float32)
        ours = pyoptim.Adafactor([(p, g)], lr=1e-2)
        tp = torch.tensor(p.copy(), requires_grad=True)
        tp.grad = torch.tensor(g)
        theirs = torch.optim.Adafactor([tp], lr=1e-2)
        ours_s, theirs_s = paired(ours.step, theirs.step)
        state_bytes = sum(a.nbytes for a in ours.state[0].values() if isinstance(a, np.ndarray))
        torch_bytes = sum(t.numel() * t.element_size() for k, t in theirs.state[tp].items() if k != "step")
        rows.append((shape, state_bytes / p.size, torch_bytes / p.size, 1e3 * ours_s, 1e3 * theirs_s, theirs_s / ours_s))
    return rows


def muon_rows(torch) -> list:
    rows = []
    names = _core.RULES["muon"]["options"]
    for shape in SHAPES:
        rng = np.random.default_rng(0)
        p = rng.standard_normal(shape).astype(np.float32)
        g = rng.standard_normal(shape).astype(np.float32)
        buf, work = np.zeros_like(p), np.empty_like(p)
        group = pyoptim.Muon.default_hyper()
        momentum_options = tuple(float({**group, "nesterov": 1.0, "apply": 0.0, "adjusted_lr": 0.0}[n]) for n in names)
        apply_options = tuple(float({**group, "nesterov": 1.0, "apply": 1.0,
                                     "adjusted_lr": adjusted_lr(group["lr"], None, shape)}[n]) for n in names)
        momentum_plan = _core.StepPlan("muon", [(work, g, buf)])
        apply_plan = _core.StepPlan("muon", [(p, work, None)])
        momentum = median_seconds(lambda: momentum_plan.step(momentum_options, 1))
        products = median_seconds(lambda: newton_schulz(work, group["ns_coefficients"], group["ns_steps"], group["eps"]))
        apply = median_seconds(lambda: apply_plan.step(apply_options, 1))
        q = rng.standard_normal(shape).astype(np.float32)
        ours = pyoptim.Muon([(q, g)])
        tp = torch.tensor(q.copy(), requires_grad=True)
        tp.grad = torch.tensor(g)
        theirs = torch.optim.Muon([tp])
        ours_s, theirs_s = paired(ours.step, theirs.step)
        rows.append((shape, 1e3 * momentum, 1e3 * products, 1e3 * apply, 1e3 * ours_s, 1e3 * theirs_s,
                     theirs_s / ours_s))
    return rows


def lbfgs_rows(torch) -> list:
    """A full-batch logistic regression (4096 samples, 784 -> 10: 7850 parameters) trained by
    one LBFGS step (max_iter 20) per call, torch.optim.LBFGS vs pyoptim.torch.LBFGS with the
    same closure: time per step and the optimizer's own share (the step minus its closure calls)."""
    import pyoptim.torch as pt

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4096, 784, generator=gen)
    y = torch.randint(0, 10, (4096,), generator=gen)
    rows = []
    for line_search in (None, "strong_wolfe"):
        runs = {}
        for label, cls in (("torch", torch.optim.LBFGS), ("pyoptim", pt.LBFGS)):
            model = torch.nn.Linear(784, 10)
            opt = cls(model.parameters(), lr=0.5 if line_search is None else 1.0, line_search_fn=line_search)
            calls = [0.0]

            def closure():
                start = time.perf_counter()
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(x), y)
                loss.backward()
                calls[0] += time.perf_counter() - start
                return loss

            def step():
                calls[0] = 0.0
                start = time.perf_counter()
                opt.step(closure)
                return time.perf_counter() - start, calls[0]

            step()
            runs[label] = (step, [])
        for _ in range(5):  # alternating blocks
            for label, (step, out) in runs.items():
                out.extend(step() for _ in range(3))
        medians = {label: (statistics.median(t for t, _ in out), statistics.median(t - c for t, c in out))
                   for label, (_, out) in runs.items()}
        rows.append((line_search or "none", 1e3 * medians["pyoptim"][0], 1e3 * medians["pyoptim"][1],
                     1e3 * medians["torch"][0], 1e3 * medians["torch"][1]))
    return rows


def main() -> int:
    import torch
    from threadpoolctl import threadpool_info

    threads = pyoptim.get_num_threads()
    torch.set_num_threads(threads)
    blas = [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')}, {i.get('num_threads')} threads)"
            for i in threadpool_info() if i.get("user_api") == "blas"]
    lines = ["# Adafactor, Muon and LBFGS vs torch.optim (generated by bench/matrix_rules.py)", "",
             f"{datetime.date.today()}, {platform.processor() or platform.machine()}, "
             f"{pyoptim.simd_info()['active']}, {threads} threads (pyoptim and torch), NumPy BLAS: "
             f"{'; '.join(blas) or 'unknown'}; torch {torch.__version__}. float32, median step times of "
             "alternating blocks in one run.", "",
             "## Adafactor", "",
             "| shape | state B/param pyoptim | state B/param torch | pyoptim ms | torch ms | torch / pyoptim |",
             "|---|---|---|---|---|---|"]
    for shape, ob, tb, o, t, r in adafactor_rows(torch):
        lines.append(f"| {shape[0]}x{shape[1]} | {ob:.4f} | {tb:.4f} | {o:.3f} | {t:.3f} | {r:.2f}x |")
    lines += ["", "float32 Adam keeps 8 B/param of state; a factored matrix keeps 4 (R + C) / (R C).", "",
              "## Muon", "",
              "| shape | momentum pass ms | Newton-Schulz products ms | apply pass ms | pyoptim step ms | "
              "torch step ms (bf16 products) | torch / pyoptim |", "|---|---|---|---|---|---|---|"]
    for shape, m, ns, a, o, t, r in muon_rows(torch):
        lines.append(f"| {shape[0]}x{shape[1]} | {m:.3f} | {ns:.3f} | {a:.3f} | {o:.3f} | {t:.3f} | {r:.2f}x |")
    lines += ["", "## LBFGS", "",
              "One step (max_iter 20) of a full-batch logistic regression, 4096 x 784 -> 10, the same closure:",
              "", "| line search | pyoptim.torch ms | its optimizer share ms | torch ms | torch's optimizer share ms |",
              "|---|---|---|---|---|"]
    for ls, o, os_, t, ts in lbfgs_rows(torch):
        lines.append(f"| {ls} | {o:.2f} | {os_:.2f} | {t:.2f} | {ts:.2f} |")
    text = "\n".join(lines) + "\n"
    (HERE / "matrix_rules.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
