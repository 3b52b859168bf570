"""The MNIST figures: test accuracy of the models trained from scratch, and the training loop's speed.

Run from the repository root::

    python bench/mnist_figures.py                 # the figures, over seeds 0 1 2 (~1 minute on 2 cores)
    python bench/mnist_figures.py --sweep         # also re-run the lr sweep behind pyoptim.train.TUNED_LR (~20 min)

It prints the figures and writes them to bench/mnist_figures.md (generated:
never edit that file by hand). Every model trains on all 60,000 training
images and is scored once on the 10,000 test images; no validation split, no
early stopping. MNIST is read with ``pyoptim.datasets.load_mnist(--data-dir)``.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

import pyoptim
from pyoptim import nn, train

HERE = Path(__file__).resolve().parent
DEFAULT_DATA_DIR = HERE.parent.parent / "shared" / "data" / "mnist"


@dataclass
class Figure:
    """One claim: a model, how it is trained, and the test accuracy it must reach."""

    name: str
    target: float  # test accuracy, in %
    build: Callable[[int], nn.Sequential]  # seed -> model
    optimizer: str
    hyper: dict
    epochs: int
    batch_size: int
    schedule: str = "none"
    schedule_args: dict = field(default_factory=dict)

    def describe(self) -> str:
        hyper = ", ".join(f"{k}={v}" for k, v in self.hyper.items())
        schedule = "constant lr" if self.schedule == "none" else f"{self.schedule} schedule"
        rule = f"{self.optimizer}({hyper})"
        if not train.takes_flat_buffer(train.optimizer_class(self.optimizer)):
            name, hyper = train.MATRIX_COMPANION
            rule += f" on the weights + {name}({', '.join(f'{k}={v}' for k, v in hyper.items())}) on the biases"
        return f"{rule}, batch {self.batch_size}, {self.epochs} epochs, {schedule}"


FIGURES = [
    Figure("logistic regression, within 5 epochs", 92.0, lambda seed: nn.logistic_regression(784, 10, seed=seed),
           "Adam", {"lr": 1e-3}, epochs=5, batch_size=64),
    Figure("MLP 784-128-10 with Adam, within 5 epochs", 97.5, lambda seed: nn.mlp(784, (128,), 10, seed=seed),
           "Adam", {"lr": 2e-3}, epochs=5, batch_size=128),
    Figure("MLP 784-128-10, best rule and schedule (10 epochs)", 98.0,
           lambda seed: nn.mlp(784, (128,), 10, seed=seed),
           "SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}, epochs=10, batch_size=64, schedule="cosine"),
    Figure("MLP 784-128-10 with Adam and a cosine schedule, within 5 epochs", 98.0,
           lambda seed: nn.mlp(784, (128,), 10, seed=seed),
           "Adam", {"lr": 2e-3}, epochs=5, batch_size=32, schedule="cosine"),
    Figure("MLP 784-128-10 with LAMB (per-layer trust ratios), within 5 epochs", 97.0,
           lambda seed: nn.mlp(784, (128,), 10, seed=seed),
           "LAMB", {"lr": train.TUNED_LR["lamb"]}, epochs=5, batch_size=128),
    Figure("MLP 784-128-10 with Schedule-Free AdamW (no schedule), within 5 epochs", 97.0,
           lambda seed: nn.mlp(784, (128,), 10, seed=seed),
           "AdamWScheduleFree", {"lr": train.TUNED_LR["adamwschedulefree"]}, epochs=5, batch_size=128),
    Figure("MLP 784-128-10 with Adafactor (factored weights), within 5 epochs", 97.0,
           lambda seed: nn.mlp(784, (128,), 10, seed=seed),
           "Adafactor", {"lr": train.TUNED_LR["adafactor"]}, epochs=5, batch_size=128),
    Figure("MLP 784-128-10 with Muon (weights; AdamW for the biases), within 5 epochs", 97.5,
           lambda seed: nn.mlp(784, (128,), 10, seed=seed),
           "Muon", {"lr": train.TUNED_LR["muon"]}, epochs=5, batch_size=128),
]


def run_figure(figure: Figure, data: train.Split, test: train.Split, seed: int) -> dict:
    model = figure.build(seed)
    # Over the model, as compare does: its flat buffer for an element-wise rule, each layer's
    # arrays for a per-tensor one (LAMB, Adafactor), the weights for Muon (train.MATRIX_COMPANION
    # over the biases).
    optimizer = train.make_optimizer(figure.optimizer, model, **figure.hyper)
    scheduler = train.make_scheduler(figure.schedule, optimizer, epochs=figure.epochs, **figure.schedule_args)
    history = train.fit(model, optimizer, data, epochs=figure.epochs, batch_size=figure.batch_size,
                        scheduler=scheduler, seed=seed)
    _, accuracy = model.evaluate(test.x, test.y)
    return {"accuracy": 100 * accuracy, "seconds_per_epoch": history.seconds_per_epoch()}


def timed(f, repeats: int) -> float:
    """Median seconds of one call of f, over `repeats` calls after one warm-up call."""
    f()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def step_breakdown(data: train.Split, batch: int = 128, repeats: int = 300) -> list:
    """Median time of each part of one training step of the MLP 784-128-10 (microseconds)."""
    model = nn.mlp(784, (128,), 10, seed=0)
    optimizer = pyoptim.Adam(model.parameters(), lr=1e-3)
    index = np.random.default_rng(0).permutation(len(data))[:batch]
    xb = np.empty((batch, 784), dtype=np.float32)
    yb = np.empty(batch, dtype=data.y.dtype)

    def gather():
        np.take(data.x, index, axis=0, out=xb, mode="clip")
        np.take(data.y, index, axis=0, out=yb, mode="clip")

    gather()
    parts = [("gather the batch (np.take)", timed(gather, repeats)),
             ("forward (NumPy matmul + activations)", timed(lambda: model.forward(xb), repeats))]
    both = timed(lambda: model.loss_and_grad(xb, yb), repeats)
    parts.append(("loss + backward (NumPy)", both - parts[1][1]))
    parts.append(("optimizer step (pyoptim Adam kernel, 101,770 values)", timed(optimizer.step, repeats)))
    return [(name, 1e6 * seconds) for name, seconds in parts]


def thread_speeds(data: train.Split) -> list:
    """Seconds per epoch of the MLP with Adam, batch 128, for 1 and 2 kernel threads."""
    rows = []
    previous = pyoptim.get_num_threads()
    try:
        for threads in (1, 2):
            pyoptim.set_num_threads(threads)
            model = nn.mlp(784, (128,), 10, seed=0)
            history = train.fit(model, pyoptim.Adam(model.parameters(), lr=1e-3), data, epochs=1, batch_size=128)
            rows.append((threads, history.train_seconds[0]))
    finally:
        pyoptim.set_num_threads(previous)
    return rows


SWEEP_FACTORS = (1 / 3, 1 / 2, 1, 2, 3)
# A rule not yet in TUNED_LR starts from its class's default lr: a wider grid, half a decade apart.
WIDE_FACTORS = tuple(10.0 ** (k / 2) for k in range(-4, 5))


def sweep_epochs(cls: type) -> int:
    """5 epochs; 1 for a closure-driven rule (LBFGS: up to 20 evaluations and a 100-pair
    history recursion a step make an epoch ~2 minutes here)."""
    return 1 if cls.closure_driven else 5


def lr_sweep(data: train.Split) -> list:
    """For each compared rule: validation loss after sweep_epochs (batch 128) at its tuned lr times SWEEP_FACTORS."""
    fit_part, validation = train.split_validation(data, 0.1, seed=0)
    rows = []
    for entry in train.comparison_entries():
        if "lr" not in entry.hyper:  # a rule without a learning rate has nothing to sweep
            continue
        results = []
        factors = SWEEP_FACTORS if entry.label.lower() in train.TUNED_LR else WIDE_FACTORS
        for factor in factors:
            lr = entry.hyper["lr"] * factor
            model = nn.mlp(784, (128,), 10, seed=0)
            optimizer = train.RuleEntry(entry.label, entry.cls, {**entry.hyper, "lr": lr}).build(model)
            history = train.fit(model, optimizer, fit_part, epochs=sweep_epochs(entry.cls), batch_size=128,
                                validation=validation)
            loss = float("inf") if history.diverged else history.val_loss[-1]
            results.append((lr, loss))
        best_lr = min(results, key=lambda r: r[1])[0]
        rows.append((entry.label, entry.hyper["lr"], best_lr, results))
        print(f"  swept {entry.label}", file=sys.stderr, flush=True)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help=f"(default: {DEFAULT_DATA_DIR})")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1, help="kernel threads for the figures (default: 1)")
    parser.add_argument("--sweep", action="store_true", help="also run the lr sweep behind TUNED_LR (~20 min: LBFGS takes most)")
    parser.add_argument("--output", type=Path, default=HERE / "mnist_figures.md")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    data, test = train.load_mnist_splits(args.data_dir)
    pyoptim.set_num_threads(args.threads)
    lines = []

    def emit(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    emit("# MNIST figures")
    emit()
    emit(f"Generated by `python bench/mnist_figures.py{' --sweep' if args.sweep else ''}` on "
         f"{datetime.date.today().isoformat()}; do not edit by hand.")
    emit()
    info = pyoptim.simd_info()
    emit(f"- machine: {platform.machine()}, {_cpu_count()} CPUs, kernels {info['active']}, "
         f"Python {platform.python_version()}, NumPy {np.__version__}")
    emit(f"- data: all {len(data):,} training images (shuffled each epoch, seeded), "
         f"scored on the {len(test):,} test images; inputs are pixels / 255")
    emit(f"- kernel threads: {args.threads}; seeds {', '.join(map(str, args.seeds))} "
         "(each seed fixes the initial weights and the batch order)")
    emit()
    emit("| figure | target | test accuracy (min / mean / max over seeds) | met | setup | seconds / epoch |")
    emit("| --- | ---: | ---: | :---: | --- | ---: |")
    all_met = True
    for figure in FIGURES:
        runs = [run_figure(figure, data, test, seed) for seed in args.seeds]
        accuracies = [r["accuracy"] for r in runs]
        met = min(accuracies) >= figure.target
        all_met &= met
        emit(f"| {figure.name} | {figure.target:.1f}% | {min(accuracies):.2f}% / "
             f"{statistics.mean(accuracies):.2f}% / {max(accuracies):.2f}% | {'yes' if met else 'NO'} | "
             f"{figure.describe()} | {statistics.mean(r['seconds_per_epoch'] for r in runs):.2f} |")
    emit()
    emit("## Where a training step's time goes (MLP 784-128-10, Adam, batch 128, 1 kernel thread)")
    emit()
    emit("| part | median microseconds |")
    emit("| --- | ---: |")
    pyoptim.set_num_threads(1)
    for name, micros in step_breakdown(data):
        emit(f"| {name} | {micros:.0f} |")
    emit()
    emit("## Kernel threads and NumPy's BLAS (one epoch, MLP 784-128-10, Adam, batch 128)")
    emit()
    emit("| kernel threads | seconds / epoch |")
    emit("| ---: | ---: |")
    for threads, seconds in thread_speeds(data):
        emit(f"| {threads} | {seconds:.2f} |")
    emit()
    emit("The kernel threads share the cores with NumPy's BLAS threads. pyoptim keeps OpenMP's idle workers "
         "from spinning long between steps (GOMP_SPINCOUNT=3000 unless the user sets it) and runs updates below "
         "64K elements per thread on one thread, so this model's update (101,770 values) stays on one.")
    if args.sweep:
        emit()
        emit("## Learning-rate sweep behind `pyoptim.train.TUNED_LR`")
        emit()
        emit("MLP 784-128-10, batch 128, 5 epochs (LBFGS: 1), 54,000 / 6,000 train / validation split, seed 0; "
             "validation loss at the tuned lr times " + ", ".join(f"{f:.3g}" for f in SWEEP_FACTORS) +
             " (a rule not yet tuned: its default lr times " + ", ".join(f"{f:.3g}" for f in WIDE_FACTORS) + ").")
        emit()
        emit("| rule | tuned lr | best lr | validation loss by lr |")
        emit("| --- | ---: | ---: | --- |")
        for label, tuned, best, results in lr_sweep(data):
            emit(f"| {label} | {tuned:g} | {best:g} | " + ", ".join(f"{lr:.3g}: {loss:.4f}" for lr, loss in results)
                 + " |")
        emit()
        name, hyper = train.MATRIX_COMPANION
        emit(f"Muon steps the weight matrices, with {name}({', '.join(f'{k}={v}' for k, v in hyper.items())}) "
             "on the biases (train.MATRIX_COMPANION); LBFGS steps through a closure over each mini-batch, "
             "up to max_iter=20 evaluations a step.")
    emit()
    emit(f"Total time: {time.perf_counter() - started:.0f} s.")
    args.output.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.output}", file=sys.stderr)
    return 0 if all_met else 1


def _cpu_count() -> int:
    import os
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    raise SystemExit(main())
