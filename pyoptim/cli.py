"""The ``pyoptim`` command: train a model on MNIST, or compare the update rules.

::

    pyoptim train --model mlp --hidden 128 --optimizer adam --lr 1e-3 --epochs 5
    pyoptim compare                      # every registered rule, MLP 784-128-10
    pyoptim rules                        # the rules, their hyperparameters and defaults
    pyoptim trajectories                 # trajectories.png: each rule's path on 2-D test functions

Exit status: 0 on success, 2 for bad arguments (the message names the
argument), 1 when something fails afterwards (e.g. the data cannot be read).

This module parses the command line and prints; what the commands run are the
functions of :mod:`pyoptim.train.experiments`, which name a bad argument in the
error they raise (``error.argument``): that, not the message, says which option
to name.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

from . import _checks
from ._progress import ProgressBar, progress_wanted
from .distributed import rank as distributed_rank
from .optim import Optimizer
from .train.experiments import (MODELS, ExperimentSettings, check_settings, describe_model,
                                load_experiment_data, prepare_comparison, prepare_training, run_comparison,
                                run_training, save_comparison, save_training)
from .train.optimizers import check_hyperparameters, comparison_entries, optimizer_class, parse_hyper_value
from .train.report import matplotlib_missing
from .train.schedules import SCHEDULES
from .train.trajectories import DEFAULT_BATCH_SIZES, DEFAULT_RULES, DEFAULT_SCHEDULES, SURFACES, TEST_FUNCTIONS
from .train.trajectories import trajectories as draw_trajectories

DEFAULT_COMPARE_DIR = "./pyoptim-compare"
# `pyoptim compare` with no options must finish in a few minutes on 2 cores: with
# these, its 12 runs of the MLP 784-128-10 took 21 s in all on an idle 2-core
# machine (0.15 s per epoch) and 68 s on one shared with other jobs.
COMPARE_EPOCHS = 10
COMPARE_BATCH = 128
# Options of their own that a rule's hyperparameter of the same name cannot take over (use --opt).
OTHER_OPTION_NAMES = {"seed", "epochs", "threads", "gamma", "patience", "schedule", "model", "hidden", "rules"}
# The arguments of pyoptim.train.experiments that are options of the same name (data_dir: --data-dir).
EXPERIMENT_OPTIONS = {f.name for f in fields(ExperimentSettings)} | {"optimizer", "rules"}
# The arguments of pyoptim.train.trajectories and the options that give them.
TRAJECTORY_OPTIONS = {"function": "--function", "rules": "--rules", "batch_sizes": "--batch-sizes",
                      "schedules": "--schedules", "start": "--start", "steps": "--steps", "every": "--every",
                      "tolerance": "--tolerance", "seed": "--seed", "output": "--output", "gif": "--gif",
                      "frames": "--frames", "surface_view": "--3d"}


class UsageError(Exception):
    """A bad command-line argument found after parsing: reported like argparse's errors, exit status 2."""


# ---- the parser ---------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyoptim", description="Train models from scratch on MNIST with pyoptim's optimizers.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = commands.add_parser("train", help="train one model with one optimizer",
                                description="Train one model on MNIST and report its test accuracy.")
    _add_model_options(train)
    optimizer = train.add_argument_group("optimizer")
    optimizer.add_argument("--optimizer", default="adam", metavar="NAME",
                           help=f"an update rule, any case: {', '.join(Optimizer.registry)} (default: adam)")
    _add_hyper_options(optimizer, compare=False)
    _add_training_options(train, epochs=5, batch=64, validation=0.1)
    train.add_argument("--output-dir", type=Path, default=None,
                       help="save the model (model.npz) and its history (history.json) here")
    train.set_defaults(run=run_train, subparser=train)

    compare = commands.add_parser(
        "compare", help="train one model with several update rules and plot them",
        description="Train the same model with several update rules, from the same initial weights and "
                    "on the same batches, and write curves (compare.png), a table (compare.md) and the "
                    "histories (compare.json). By default: every registered rule, each with a tuned lr, "
                    "plus SGD with momentum 0.9 and with Nesterov momentum.")
    compare.add_argument("--rules", nargs="+", metavar="RULE",
                         help="the rules to compare (names or labels such as sgd+nesterov; default: all)")
    _add_model_options(compare)
    hyper = compare.add_argument_group("hyperparameters (applied to every compared rule that takes them)")
    _add_hyper_options(hyper, compare=True)
    _add_training_options(compare, epochs=COMPARE_EPOCHS, batch=COMPARE_BATCH, validation=0.1)
    compare.add_argument("--output-dir", type=Path, default=Path(DEFAULT_COMPARE_DIR),
                         help=f"where to write the results (default: {DEFAULT_COMPARE_DIR})")
    compare.set_defaults(run=run_compare, subparser=compare)

    rules = commands.add_parser("rules", help="list the update rules and their hyperparameters")
    rules.set_defaults(run=run_rules, subparser=rules)

    paths = commands.add_parser(
        "trajectories", help="draw the path of each update rule on 2-D test functions",
        description="Run update rules through pyoptim's optimizers on a 2-D parameter, from one start, and "
                    "draw their paths over the contours of the loss (trajectories.png): by default six rules "
                    "on five classic test functions. With --batch-sizes, the noise of the path against the "
                    "batch size on a small regression; with --schedules, a constant lr against decays.")
    paths.add_argument("--function", default=None, metavar="NAME",
                       help=f"one of {', '.join(SURFACES)}, or all: {', '.join(TEST_FUNCTIONS)}, one panel "
                            "each (default: all; regression with --batch-sizes or --schedules)")
    paths.add_argument("--rules", nargs="+", metavar="RULE",
                       help="NAME[+momentum|+nesterov][:KEY=VALUE...], e.g. adam:lr=0.1:betas=0.8,0.9 or "
                            f"sgd+nesterov:label=NAG (default: {' '.join(DEFAULT_RULES)}; sgd with "
                            "--batch-sizes or --schedules); without lr, a rule gets the function's")
    paths.add_argument("--batch-sizes", nargs="+", metavar="N|full|stochastic",
                       help=f"run every rule with each batch size (regression only), e.g. "
                            f"{' '.join(map(str, DEFAULT_BATCH_SIZES))}")
    paths.add_argument("--schedules", nargs="+", metavar="SCHEDULE",
                       help=f"run every rule with each lr schedule, stepped every step: NAME[:KEY=VALUE...], "
                            f"NAME one of {', '.join(SCHEDULES)}, KEY one of step_size, gamma, eta_min, "
                            f"warmup_steps, warmup_start_factor, plateau_factor, plateau_patience; e.g. "
                            f"{' '.join(DEFAULT_SCHEDULES)} step:step_size=50:gamma=0.5")
    paths.add_argument("--start", nargs=2, type=float, metavar=("X", "Y"),
                       help="the start point (default: the function's)")
    paths.add_argument("--steps", type=int, help="steps of every rule (default: the function's)")
    paths.add_argument("--every", type=int, metavar="K", help="a marker every K steps (default: about a tenth)")
    paths.add_argument("--tolerance", type=float,
                       help="a rule has arrived once its loss stays within this of the minimum "
                            "(default: the function's)")
    paths.add_argument("--seed", type=int, default=0, help="the mini-batches' shuffling (default: 0)")
    paths.add_argument("--output", type=Path, default=Path("trajectories.png"),
                       help="the picture (PNG; default: trajectories.png)")
    paths.add_argument("--gif", nargs="?", const=True, default=None, metavar="FILE",
                       help="also an animation of the paths (default FILE: the output's name with .gif; "
                            "some seconds per function)")
    paths.add_argument("--frames", type=int, default=40, help="frames of the animation (default: 40)")
    paths.add_argument("--3d", dest="surface_view", nargs="?", const=True, default=None, metavar="FILE",
                       help="also a 3-D view of the surfaces (default FILE: the output's name with -3d.png)")
    paths.set_defaults(run=run_trajectories, subparser=paths)
    return parser


def _add_model_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--model", choices=MODELS, default="mlp", help="(default: mlp)")
    g.add_argument("--hidden", type=int, nargs="*", default=[128], metavar="WIDTH",
                   help="hidden layer widths of the MLP (default: 128)")
    g.add_argument("--activation", choices=("relu", "tanh", "sigmoid"), default="relu", help="(default: relu)")
    g.add_argument("--digits", type=int, nargs=2, default=[4, 9], metavar=("NEGATIVE", "POSITIVE"),
                   help="the two digits binary-logreg separates (labels 0 and 1; default: 4 9)")
    g.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="(default: float32)")


def _add_training_options(p: argparse.ArgumentParser, *, epochs: int, batch: int, validation: float) -> None:
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int, default=epochs, help=f"(default: {epochs})")
    g.add_argument("--batch-size", type=_batch_size, default=batch, metavar="N|full|stochastic",
                   help=f"samples per step: full = full-batch gradient descent, stochastic = 1 (default: {batch})")
    g.add_argument("--validation-fraction", type=float, default=validation, metavar="F",
                   help=f"hold this fraction of the training set out for validation (default: {validation})")
    g.add_argument("--patience", type=int, default=None, metavar="EPOCHS",
                   help="early stopping: stop after this many epochs without a lower validation loss "
                        "and restore the best weights (default: off)")
    g.add_argument("--seed", type=int, default=0, help="seeds the initial weights, the split and the batch order")
    g.add_argument("--threads", type=int, default=None,
                   help="threads for pyoptim's update kernels (pyoptim.set_num_threads; default: the "
                        "library's, all cores; updates under 64K elements per thread run on one)")
    g.add_argument("--data-dir", type=Path, default=None, help="MNIST directory (passed to load_mnist)")
    g.add_argument("--distributed", action="store_true",
                   help="data parallel over MPI with the optimizer state sharded among the ranks: run as "
                        "mpiexec -n N pyoptim ... --distributed (needs pip install \"pyoptim[mpi]\"); each "
                        "rank trains on its share of every batch, rank 0 prints and writes")
    s = p.add_argument_group("learning-rate schedule (stepped once per epoch)")
    s.add_argument("--schedule", choices=SCHEDULES, default="none", help="(default: none)")
    s.add_argument("--step-size", type=int, default=None, help="step: epochs between decays (default: epochs // 3)")
    s.add_argument("--gamma", type=float, default=None,
                   help="step / exponential: decay factor (default: 0.1 / 0.9)")
    s.add_argument("--eta-min", type=float, default=0.0, help="cosine: final lr (default: 0)")
    s.add_argument("--warmup-epochs", type=int, default=1, help="warmup-cosine: warm-up epochs (default: 1)")
    s.add_argument("--warmup-start-factor", type=float, default=0.1,
                   help="warmup-cosine: first epoch's lr as a fraction of lr (default: 0.1)")
    s.add_argument("--plateau-factor", type=float, default=0.5, help="plateau: lr multiplier (default: 0.5)")
    s.add_argument("--plateau-patience", type=int, default=1,
                   help="plateau: epochs without improvement before a cut (default: 1)")
    # For tests and quick runs on a subset.
    p.add_argument("--limit-train", type=_positive_int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--limit-test", type=_positive_int, default=None, help=argparse.SUPPRESS)


def _hyper_flags() -> dict:
    """Every hyperparameter of every registered rule: name -> [(class, default), ...]."""
    flags: dict = {}
    for cls in Optimizer.registry.values():
        for name, default in cls.default_hyper().items():
            flags.setdefault(name, []).append((cls, default))
    return flags


def _add_hyper_options(group, *, compare: bool) -> None:
    for name, owners in _hyper_flags().items():
        if name in OTHER_OPTION_NAMES:
            continue
        example = owners[0][1]
        shape = ("true|false, or nothing for true; " if isinstance(example, bool)
                 else f"{len(example)} numbers; " if isinstance(example, tuple) else "")
        who = ", ".join(f"{cls.__name__} {_show(default)}" for cls, default in owners)
        group.add_argument(f"--{name.replace('_', '-')}", dest=f"hyper_{name}", nargs="*", default=None,
                           metavar="V", help=f"{shape}defaults: {who}")
    group.add_argument("--opt", action="append", default=[], metavar="KEY=VALUE",
                       help="any hyperparameter of the rule, e.g. --opt betas=0.9,0.99 (repeatable)")
    if compare:
        group.add_argument("--rule-lr", action="append", default=[], metavar="RULE=LR",
                           help="the lr of one compared rule, e.g. --rule-lr sgd+nesterov=0.02 (repeatable)")


def _show(value) -> str:
    return f"({','.join(map(str, value))})" if isinstance(value, tuple) else repr(value)


def _batch_size(text: str):
    word = text.strip().lower()
    if word == "full":
        return "full"
    if word == "stochastic":
        return 1
    try:
        value = int(word)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, 'full' or 'stochastic', got {text!r}")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, 'full' or 'stochastic', got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


# ---- turning arguments into the experiments' arguments ---------------------------------


def _option(argument: str) -> str:
    return "--" + argument.replace("_", "-")


@contextmanager
def _as_usage_error(option_of: Callable[[str], Optional[str]]) -> Iterator[None]:
    """Report an argument error of the block as a UsageError on the option `option_of`
    gives for the argument the error names (``error.argument``, set by pyoptim._checks);
    an error naming no option keeps its own message."""
    try:
        yield
    except _checks.ArgumentError as e:
        option = option_of(e.argument)
        raise UsageError(str(e) if option is None else f"{option}: {e.problem}") from None
    except (TypeError, ValueError) as e:
        raise UsageError(str(e)) from None


def _experiment_option(argument: str) -> Optional[str]:
    return _option(argument) if argument in EXPERIMENT_OPTIONS else None


def _hyper_option(name: str) -> str:
    return f"--opt {name}" if name in OTHER_OPTION_NAMES else _option(name)


def _settings(args) -> ExperimentSettings:
    return ExperimentSettings(**{f.name: getattr(args, f.name) for f in fields(ExperimentSettings)})


def _given_hyper(args) -> dict:
    """name -> words for the hyperparameter options given, --opt included (later wins)."""
    given = {key[len("hyper_"):]: words for key, words in vars(args).items()
             if key.startswith("hyper_") and words is not None}
    for item in args.opt:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--opt: expected KEY=VALUE, got {item!r}")
        given[key.strip().replace("-", "_")] = [value.strip()]
    return given


def _hyper_for(cls: type[Optimizer], given: dict, *, strict: bool) -> dict:
    """The given hyperparameters converted for `cls`; unknown names are an error if `strict`, else skipped."""
    defaults = cls.default_hyper()
    hyper = {}
    for name, words in given.items():
        if name not in defaults:
            if strict:
                raise UsageError(f"--{name.replace('_', '-')}: {cls.__name__} has no hyperparameter {name!r}; "
                                 f"it takes {', '.join(defaults)}")
            continue
        try:
            hyper[name] = parse_hyper_value(cls, name, words)
        except ValueError as e:
            raise UsageError(f"--{name.replace('_', '-')}: {e}") from None
    return hyper


# ---- printing ---------------------------------------------------------------------


def _percent(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _epoch_line(history, epochs: int, prefix: str = "") -> str:
    i = -1
    line = (f"{prefix}epoch {history.epoch[i]:>{len(str(epochs))}}/{epochs}  "
            f"train loss {history.train_loss[i]:.4f} acc {_percent(history.train_accuracy[i])}")
    if history.val_loss[i] is not None:
        line += f"  | val loss {history.val_loss[i]:.4f} acc {_percent(history.val_accuracy[i])}"
    return line + f"  | lr {history.lr[i]:.3g}  | {history.epoch_seconds[i]:.2f} s"


def _batch_progress() -> ProgressBar:
    """The per-batch bar, on stderr when it is a terminal (so logs and pipes stay clean)."""
    return ProgressBar(unit="batches", enabled=progress_wanted(None))


# ---- the commands -------------------------------------------------------------------


def run_train(args) -> int:
    started = time.perf_counter()
    settings = _settings(args)
    with _as_usage_error(_experiment_option):
        check_settings(settings)
        cls = optimizer_class(args.optimizer)
    hyper = _hyper_for(cls, _given_hyper(args), strict=True)
    with _as_usage_error(_hyper_option):
        check_hyperparameters(cls, hyper)
    with _as_usage_error(_experiment_option):
        training = prepare_training(settings, cls, hyper)

    data = load_experiment_data(settings)
    bar = _batch_progress()
    shown = ", ".join(f"{k}={v}" for k, v in {"lr": training.optimizer.param_groups[0]["lr"], **hyper}.items())
    print(f"{describe_model(settings, training.model)}\n{cls.__name__}({shown}) on {len(data.train)} training "
          f"samples ({len(data.validation) if data.validation else 0} held out for validation), batch size "
          f"{args.batch_size}, {args.epochs} epochs, schedule {args.schedule}", flush=True)

    def on_epoch(history):
        bar.clear()
        print(_epoch_line(history, args.epochs), flush=True)
        bar.start(f"epoch {history.epochs_run + 1}/{args.epochs}")

    bar.start(f"epoch 1/{args.epochs}")
    history = run_training(training, data, on_batch=bar, on_epoch=on_epoch)
    bar.clear()
    if history.diverged:
        print(f"stopped: the training loss became inf or NaN in epoch {history.epochs_run + 1} "
              f"(try a smaller --lr)", flush=True)
    if history.stopped_early or history.restored_best:
        print(f"early stopping: kept the weights of epoch {history.best_epoch} "
              f"(val loss {history.best_loss:.4f})")
    if not history.diverged:
        print(f"test accuracy {_percent(history.test_accuracy)} (loss {history.test_loss:.4f}) after "
              f"{history.epochs_run} epochs; training {history.total_seconds:.1f} s, "
              f"total time {time.perf_counter() - started:.1f} s")
    if args.output_dir is not None and not (args.distributed and distributed_rank() != 0):
        written = save_training(training, history, args.output_dir)
        print(f"wrote {' and '.join(map(str, written))}")
    return 1 if history.diverged else 0


def run_compare(args) -> int:
    settings = _settings(args)
    with _as_usage_error(_experiment_option):
        check_settings(settings)
        entries = comparison_entries(args.rules)
    given = _given_hyper(args)
    unknown = sorted(set(given) - {name for e in entries for name in e.cls.default_hyper()})
    if unknown:
        raise UsageError(f"--{unknown[0].replace('_', '-')}: none of the compared rules takes it")
    for e in entries:
        e.hyper.update(_hyper_for(e.cls, given, strict=False))
    by_label = {e.label.lower(): e for e in entries}
    for item in args.rule_lr:
        label, sep, value = item.partition("=")
        entry = by_label.get(label.strip().lower())
        if not sep or entry is None:
            raise UsageError(f"--rule-lr: expected RULE=LR with RULE one of {', '.join(e.label for e in entries)}, "
                             f"got {item!r}")
        entry.hyper["lr"] = _hyper_for(entry.cls, {"lr": [value]}, strict=True)["lr"]
    with _as_usage_error(_hyper_option):
        for e in entries:  # every bad hyperparameter is reported before any training starts
            check_hyperparameters(e.cls, e.hyper)
    with _as_usage_error(_experiment_option):
        comparison = prepare_comparison(settings, entries)

    data = load_experiment_data(settings)
    args.output_dir.mkdir(parents=True, exist_ok=True)  # an unusable directory fails now, not after training
    no_plot = matplotlib_missing()
    if no_plot:
        print(f"note: matplotlib is not installed ({no_plot}): writing the table but no plot "
              "(pip install matplotlib)", file=sys.stderr)
    print(f"comparing {len(entries)} rules on {describe_model(settings, comparison.probe)}\n{len(data.train)} "
          f"training samples, {len(data.validation) if data.validation else 0} for validation, batch size "
          f"{args.batch_size}, {args.epochs} epochs, schedule {args.schedule}, seed {args.seed}", flush=True)
    bar = _batch_progress()

    def on_start(entry):
        bar.start(f"{entry.label:>14}")

    def on_epoch(entry, history):
        bar.start(f"{entry.label:>14} epoch {history.epochs_run + 1}")

    started = time.perf_counter()
    results = run_comparison(comparison, data, on_start=on_start, on_batch=bar, on_epoch=on_epoch)
    bar.clear()
    elapsed = time.perf_counter() - started
    for r in results:
        h = r.history
        outcome = "diverged" if h.diverged else f"test accuracy {_percent(h.test_accuracy)}"
        print(f"{r.entry.label:>14} ({r.entry.describe()}): {outcome}, best epoch {h.best_epoch}, "
              f"{h.seconds_per_epoch():.2f} s/epoch")
    if args.distributed and distributed_rank() != 0:
        return 0
    written = save_comparison(comparison, data, results, args.output_dir, total_seconds=elapsed,
                              command=f"pyoptim compare{''.join(' ' + a for a in args.argv)}")
    print(f"total time {elapsed:.1f} s; wrote {', '.join(str(p) for p in written)}")
    return 0


def run_rules(args) -> int:
    tuned = {e.label: e.hyper for e in comparison_entries()}
    for name, cls in Optimizer.registry.items():
        defaults = ", ".join(f"{k}={_show(v)}" for k, v in cls.default_hyper().items())
        print(f"{name}: {defaults}")
    print("\ncompared by default (pyoptim compare):")
    for label, hyper in tuned.items():
        print(f"  {label}: {', '.join(f'{k}={_show(v)}' for k, v in hyper.items())}")
    return 0


def run_trajectories(args) -> int:
    output = args.output
    gif = output.with_suffix(".gif") if args.gif is True else args.gif
    surface_view = output.with_name(output.stem + "-3d.png") if args.surface_view is True else args.surface_view
    if gif is not None:
        print("drawing an animation: some seconds per function", flush=True)
    started = time.perf_counter()
    try:
        walks = draw_trajectories(args.function, args.rules, batch_sizes=args.batch_sizes, schedules=args.schedules,
                                  start=args.start, steps=args.steps, tolerance=args.tolerance, every=args.every,
                                  seed=args.seed, output=output, gif=gif, frames=args.frames,
                                  surface_view=surface_view)
    except _checks.ArgumentError as e:
        option = TRAJECTORY_OPTIONS.get(e.argument)
        raise UsageError(str(e) if option is None else f"{option}: {e.problem}") from None
    except ImportError as e:  # matplotlib is missing: nothing to draw with
        print(f"{args.subparser.prog}: error: {e}", file=sys.stderr)
        return 1
    for w in walks:
        print(f"{w.surface.name} from ({w.start[0]:g}, {w.start[1]:g}), {w.steps} steps; arrived: loss within "
              f"{w.tolerance:g} of the minimum")
        width = max(len(t.label) for t in w.trajectories)
        for t in w.trajectories:
            print(f"  {t.label:>{width}}  lr {t.hyper['lr']:<8g} {t.outcome(w.tolerance, w.surface.minimum_value)}")
    written = [p for p in (output, gif, surface_view) if p is not None]
    print(f"wrote {', '.join(map(str, written))} in {time.perf_counter() - started:.1f} s")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default: sys.argv[1:]); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse has printed the usage and the error (status 2) or the help (0)
        return e.code if isinstance(e.code, int) else 0
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    args.argv = argv[1:]
    try:
        if getattr(args, "distributed", False) and distributed_rank() != 0:
            with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet), \
                    contextlib.redirect_stderr(quiet):  # rank 0 prints (and writes: see run_train)
                return args.run(args)
        return args.run(args)
    except UsageError as e:
        args.subparser.print_usage(sys.stderr)
        print(f"{args.subparser.prog}: error: {e}", file=sys.stderr)
        return 2
    except (OSError, ValueError, TypeError) as e:
        print(f"{args.subparser.prog}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\n{args.subparser.prog}: interrupted", file=sys.stderr)
        return 130
