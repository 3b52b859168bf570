"""The ``pyoptim`` command: train a model on MNIST, or compare the update rules.

::

    pyoptim train --model mlp --hidden 128 --optimizer adam --lr 1e-3 --epochs 5
    pyoptim compare                      # every registered rule, MLP 784-128-10
    pyoptim rules                        # the rules, their hyperparameters and defaults

Exit status: 0 on success, 2 for bad arguments (the message names the
argument), 1 when something fails afterwards (e.g. the data cannot be read).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Sequence

import numpy as np

from . import get_num_threads, set_num_threads
from .optim import Optimizer

DEFAULT_COMPARE_DIR = "./pyoptim-compare"
# `pyoptim compare` with no options must finish in a few minutes on 2 cores: with
# these, its 12 runs of the MLP 784-128-10 took 21 s in all on an idle 2-core
# machine (0.15 s per epoch) and 68 s on one shared with other jobs.
COMPARE_EPOCHS = 10
COMPARE_BATCH = 128
MODELS = ("logreg", "binary-logreg", "mlp")
# make_scheduler's arguments that are options of the same name.
SCHEDULE_OPTIONS = ("step_size", "gamma", "eta_min", "warmup_epochs", "warmup_start_factor")
# Options of their own that a rule's hyperparameter of the same name cannot take over (use --opt).
OTHER_OPTION_NAMES = {"seed", "epochs", "threads", "gamma", "patience", "schedule", "model", "hidden", "rules"}


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
    s = p.add_argument_group("learning-rate schedule (stepped once per epoch)")
    from .train.schedules import SCHEDULES
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


# ---- turning arguments into objects (every failure here is a UsageError) --------------


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
    from .train.optimizers import parse_hyper_value

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


def _check_training_args(args) -> None:
    if args.epochs < 1:
        raise UsageError(f"--epochs: expected a positive integer, got {args.epochs}")
    if not 0 <= args.validation_fraction < 1:
        raise UsageError(f"--validation-fraction: expected a number in [0, 1), got {args.validation_fraction}")
    if args.patience is not None:
        if args.patience < 1:
            raise UsageError(f"--patience: expected a positive integer, got {args.patience}")
        if args.validation_fraction == 0:
            raise UsageError("--patience: early stopping needs a validation split (--validation-fraction > 0)")
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads: expected a positive integer, got {args.threads}")
    if args.data_dir is not None and not args.data_dir.is_dir():
        raise UsageError(f"--data-dir: {args.data_dir} is not a directory")
    if args.model == "mlp" and any(h < 1 for h in args.hidden):
        raise UsageError(f"--hidden: expected positive widths, got {args.hidden}")
    if args.model == "binary-logreg" and (args.digits[0] == args.digits[1] or
                                          not all(0 <= d <= 9 for d in args.digits)):
        raise UsageError(f"--digits: expected two different digits 0-9, got {args.digits}")


def _model_builder(args):
    """A function that builds the model the arguments describe, always with the same initial weights."""
    from . import nn

    dtype = np.dtype(args.dtype)
    if args.model == "logreg":
        return lambda: nn.logistic_regression(784, 10, dtype=dtype, seed=args.seed)
    if args.model == "binary-logreg":
        return lambda: nn.binary_logistic_regression(784, dtype=dtype, seed=args.seed)
    return lambda: nn.mlp(784, tuple(args.hidden), 10, activation=args.activation, dtype=dtype, seed=args.seed)


def _scheduler_builder(args):
    from .train.schedules import make_scheduler

    def build(optimizer):
        return make_scheduler(args.schedule, optimizer, epochs=args.epochs, step_size=args.step_size,
                              gamma=args.gamma, eta_min=args.eta_min, warmup_epochs=args.warmup_epochs,
                              warmup_start_factor=args.warmup_start_factor, plateau_factor=args.plateau_factor,
                              plateau_patience=args.plateau_patience)
    return build


def _checked(what: str, build, names: tuple = ()):
    """`build()`, with its TypeError/ValueError turned into a UsageError naming the option at fault.

    A message that starts with one of `names` ("lr: ...", "betas[1]: ...") is
    put on that name's option ("--lr: ..."); any other goes under `what`.
    """
    try:
        return build()
    except (TypeError, ValueError) as e:
        message = str(e)
    head, sep, rest = message.partition(": ")
    name = head.split("[")[0]
    if sep and name in names:
        raise UsageError(f"--{name.replace('_', '-')}: {rest if head == name else message}")
    if sep and head == what.lstrip("-"):
        raise UsageError(f"{what}: {rest}")
    raise UsageError(message if message.startswith("--") else f"{what}: {message}")


# ---- running ----------------------------------------------------------------------


@contextmanager
def _kernel_threads(threads: int | None):
    """Run with `threads` kernel threads (default: unchanged); restore the setting after."""
    previous = get_num_threads()
    set_num_threads(threads or previous)
    try:
        yield
    finally:
        set_num_threads(previous)


def _load_data(args):
    """(train, validation or None, test) Splits for the model the arguments describe."""
    from .train.data import binary_digits, load_mnist_splits, split_validation

    train, test = load_mnist_splits(args.data_dir, dtype=np.dtype(args.dtype), limit_train=args.limit_train,
                                    limit_test=args.limit_test)
    if args.model == "binary-logreg":
        train = binary_digits(train.x, train.y, *args.digits)
        test = binary_digits(test.x, test.y, *args.digits)
    train, validation = split_validation(train, args.validation_fraction, seed=args.seed)
    return train, validation, test


def _architecture(model) -> str:
    """Layer widths such as "784-128-10"."""
    widths = [model.n_features] + [layer.out_features for layer in model.layers if hasattr(layer, "out_features")]
    return "-".join(map(str, widths))


def _describe_model(args, model) -> str:
    """E.g. "mlp 784-128-10 (relu), 101,770 float32 parameters"."""
    kind = f"{args.model} {_architecture(model)}" + (f" ({args.activation})" if args.model == "mlp" else "")
    return f"{kind}, {model.n_parameters:,} {model.dtype.name} parameters"


def _percent(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _epoch_line(history, epochs: int, prefix: str = "") -> str:
    i = -1
    line = (f"{prefix}epoch {history.epoch[i]:>{len(str(epochs))}}/{epochs}  "
            f"train loss {history.train_loss[i]:.4f} acc {_percent(history.train_accuracy[i])}")
    if history.val_loss[i] is not None:
        line += f"  | val loss {history.val_loss[i]:.4f} acc {_percent(history.val_accuracy[i])}"
    return line + f"  | lr {history.lr[i]:.3g}  | {history.epoch_seconds[i]:.2f} s"


def _run_config(args, **extra) -> dict:
    keep = ("model", "hidden", "activation", "digits", "dtype", "epochs", "batch_size", "validation_fraction",
            "patience", "seed", "threads", "schedule", "step_size", "gamma", "eta_min", "warmup_epochs",
            "warmup_start_factor", "plateau_factor", "plateau_patience", "limit_train", "limit_test")
    config = {k: getattr(args, k) for k in keep}
    config["data_dir"] = None if args.data_dir is None else str(args.data_dir)
    return {**config, **extra}


def run_train(args) -> int:
    from .train.loop import fit
    from .train.optimizers import optimizer_class
    from .train.progress import ProgressBar

    started = time.perf_counter()
    _check_training_args(args)
    cls = _checked("--optimizer", lambda: optimizer_class(args.optimizer))
    hyper = _hyper_for(cls, _given_hyper(args), strict=True)
    model = _checked("model", _model_builder(args))
    optimizer = _checked("--optimizer", lambda: cls(model.parameters(), **hyper), tuple(cls.default_hyper()))
    scheduler = _checked("--schedule", lambda: _scheduler_builder(args)(optimizer), SCHEDULE_OPTIONS)

    train, validation, test = _load_data(args)
    bar = ProgressBar()
    shown = {"lr": optimizer.param_groups[0]["lr"], **hyper}
    print(f"{_describe_model(args, model)}\n{cls.__name__}({', '.join(f'{k}={v}' for k, v in shown.items())}) on {len(train)} "
          f"training samples ({len(validation) if validation else 0} held out for validation), "
          f"batch size {args.batch_size}, {args.epochs} epochs, schedule {args.schedule}", flush=True)

    def on_epoch(history):
        bar.clear()
        print(_epoch_line(history, args.epochs), flush=True)
        bar.start(f"epoch {history.epochs_run + 1}/{args.epochs}")

    bar.start(f"epoch 1/{args.epochs}")
    with _kernel_threads(args.threads):
        history = fit(model, optimizer, train, epochs=args.epochs, batch_size=args.batch_size,
                      validation=validation, scheduler=scheduler, early_stopping_patience=args.patience,
                      seed=args.seed, on_batch=bar, on_epoch=on_epoch)
        bar.clear()
        if history.diverged:
            print(f"stopped: the training loss became inf or NaN in epoch {history.epochs_run + 1} "
                  f"(try a smaller --lr)", flush=True)
        else:
            history.test_loss, history.test_accuracy = model.evaluate(test.x, test.y)
    history.config = _run_config(args, optimizer=cls.__name__, hyperparameters=hyper)
    if history.stopped_early or history.restored_best:
        print(f"early stopping: kept the weights of epoch {history.best_epoch} "
              f"(val loss {history.best_loss:.4f})")
    if not history.diverged:
        print(f"test accuracy {_percent(history.test_accuracy)} (loss {history.test_loss:.4f}) after "
              f"{history.epochs_run} epochs; training {history.total_seconds:.1f} s, "
              f"total time {time.perf_counter() - started:.1f} s")
    if args.output_dir is not None:
        args.output_dir.mkdir(parents=True, exist_ok=True)
        written = [args.output_dir / "history.json"]
        history.save_json(written[0])
        if not history.diverged:  # a model of NaNs is worth nothing
            model.metadata = {"input": "MNIST images flattened row-major to 784 values, divided by 255",
                              "training": history.config, "test_accuracy": history.test_accuracy}
            model.save(args.output_dir / "model.npz")
            written.insert(0, args.output_dir / "model.npz")
        print(f"wrote {' and '.join(map(str, written))}")
    return 1 if history.diverged else 0


def run_compare(args) -> int:
    from .train.compare import compare_rules
    from .train.optimizers import comparison_entries
    from .train.progress import ProgressBar
    from .train.report import matplotlib_missing, plot_curves, write_markdown

    _check_training_args(args)
    entries = _checked("--rules", lambda: comparison_entries(args.rules))
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
    build_model = _model_builder(args)
    make_scheduler = _scheduler_builder(args)
    probe = _checked("model", build_model)
    for e in entries:  # every bad hyperparameter is reported before any training starts
        optimizer = _checked(e.label, lambda e=e: e.build(probe.parameters()), tuple(e.cls.default_hyper()))
        _checked("--schedule", lambda: make_scheduler(optimizer), SCHEDULE_OPTIONS)

    train, validation, test = _load_data(args)
    out = args.output_dir
    out.mkdir(parents=True, exist_ok=True)
    no_plot = matplotlib_missing()
    if no_plot:
        print(f"note: matplotlib is not installed ({no_plot}): writing the table but no plot "
              "(pip install matplotlib)", file=sys.stderr)
    print(f"comparing {len(entries)} rules on {_describe_model(args, probe)}\n{len(train)} training samples, "
          f"{len(validation) if validation else 0} for validation, batch size {args.batch_size}, "
          f"{args.epochs} epochs, schedule {args.schedule}, seed {args.seed}", flush=True)
    bar = ProgressBar()

    def on_start(entry):
        bar.start(f"{entry.label:>14}")

    def on_epoch(entry, history):
        bar.start(f"{entry.label:>14} epoch {history.epochs_run + 1}")

    started = time.perf_counter()
    with _kernel_threads(args.threads):
        results = compare_rules(build_model, entries, train, test, epochs=args.epochs, batch_size=args.batch_size,
                                validation=validation, make_scheduler=make_scheduler,
                                early_stopping_patience=args.patience, seed=args.seed, on_start=on_start,
                                on_batch=bar, on_epoch=on_epoch)
    bar.clear()
    elapsed = time.perf_counter() - started
    for r in results:
        h = r.history
        outcome = "diverged" if h.diverged else f"test accuracy {_percent(h.test_accuracy)}"
        print(f"{r.entry.label:>14} ({r.entry.describe()}): {outcome}, best epoch {h.best_epoch}, "
              f"{h.seconds_per_epoch():.2f} s/epoch")

    setup = [f"model: {_describe_model(args, probe)}",
             f"{len(train)} training samples, {len(validation) if validation else 0} validation, "
             f"{len(test)} test; batch size {args.batch_size}; {args.epochs} epochs; schedule {args.schedule}; "
             f"seed {args.seed}; kernel threads {args.threads or get_num_threads()}",
             "every rule starts from the same initial weights and sees the same batches in the same order",
             f"command: `pyoptim compare{''.join(' ' + a for a in args.argv)}`",
             f"total time {elapsed:.1f} s"]
    title = "pyoptim compare: update rules on MNIST"
    write_markdown(results, out / "compare.md", title=title, setup=setup)
    (out / "compare.json").write_text(json.dumps(
        {"config": _run_config(args), "runs": [r.history.to_dict() for r in results]}, indent=2) + "\n")
    written = [out / "compare.md", out / "compare.json"]
    if not no_plot:
        plot_curves(results, out / "compare.png",
                    title=f"{_architecture(probe)}, batch {args.batch_size}, schedule {args.schedule}")
        written.insert(0, out / "compare.png")
    print(f"total time {elapsed:.1f} s; wrote {', '.join(str(p) for p in written)}")
    return 0


def run_rules(args) -> int:
    from .train.optimizers import comparison_entries

    tuned = {e.label: e.hyper for e in comparison_entries()}
    for name, cls in Optimizer.registry.items():
        defaults = ", ".join(f"{k}={_show(v)}" for k, v in cls.default_hyper().items())
        print(f"{name}: {defaults}")
    print("\ncompared by default (pyoptim compare):")
    for label, hyper in tuned.items():
        print(f"  {label}: {', '.join(f'{k}={_show(v)}' for k, v in hyper.items())}")
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
