"""What ``pyoptim train`` and ``pyoptim compare`` run, as functions: train one model
on MNIST with one optimizer, or the same model with several update rules.

The command line only turns its options into these arguments and prints; a
script does the same in Python::

    from pyoptim import train
    settings = train.ExperimentSettings(hidden=(64,), epochs=3, schedule="cosine")
    training = train.prepare_training(settings, "adamw", {"lr": 2e-3})  # checks everything
    data = train.load_experiment_data(settings)
    history = train.run_training(training, data)
    train.save_training(training, history, "runs/adamw")   # model.npz, history.json

    comparison = train.prepare_comparison(settings, train.comparison_entries(["sgd", "adam"]))
    results = train.run_comparison(comparison, data)
    train.save_comparison(comparison, data, results, "runs/compare")

A bad argument raises InvalidType or InvalidValue (``pyoptim._checks``: a
TypeError or ValueError) whose ``argument`` is the field of ExperimentSettings,
or the hyperparameter, it is about, before any data is read.
"""

from __future__ import annotations

import json
import numbers
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .. import _checks, get_num_threads, num_threads
from .._checks import PathLike
from ..distributed import ShardedOptimizer, check_shardable, local_optimizer
from ..lr_scheduler import LRScheduler, ReduceLROnPlateau
from ..nn import Sequential, binary_logistic_regression, logistic_regression, mlp
from ..optim import Optimizer
from .compare import RuleResult, compare_rules
from .data import Split, binary_digits, load_mnist_splits, split_validation
from .history import History
from .loop import BatchCallback, EpochCallback, fit
from .optimizers import RuleEntry, check_hyperparameters, optimizer_class, optimizer_for_model
from .report import matplotlib_missing, plot_curves, write_markdown
from .schedules import make_scheduler

MODELS = ("logreg", "binary-logreg", "mlp")
DTYPES = ("float32", "float64")


@dataclass
class ExperimentSettings:
    """Everything about a run but the update rule: the model, the data, the training
    loop and the learning-rate schedule. Each field is the command line's option of
    the same name (``validation_fraction`` is ``--validation-fraction``), with the
    same meaning; the defaults are ``pyoptim train``'s.
    """

    model: str = "mlp"  # one of MODELS
    hidden: Sequence[int] = (128,)  # the MLP's hidden widths
    activation: str = "relu"  # the MLP's: "relu", "tanh" or "sigmoid"
    digits: Sequence[int] = (4, 9)  # the two digits binary-logreg separates (labels 0 and 1)
    dtype: str = "float32"
    epochs: int = 5
    batch_size: int | str = 64  # or "full"
    validation_fraction: float = 0.1  # of the training set, held out
    patience: int | None = None  # early stopping on the validation loss
    seed: int = 0  # initial weights, validation split, batch order
    threads: int | None = None  # kernel threads during the run (None: as they are)
    schedule: str = "none"  # one of train.SCHEDULES; see make_scheduler for the rest
    step_size: int | None = None
    gamma: float | None = None
    eta_min: float = 0.0
    warmup_epochs: int = 1
    warmup_start_factor: float = 0.1
    plateau_factor: float = 0.5
    plateau_patience: int = 1
    limit_train: int | None = None  # the first n samples only
    limit_test: int | None = None
    data_dir: PathLike | None = None  # MNIST's directory (see load_mnist); None: the usual places
    # Data parallel over MPI's world (run under mpiexec): every rank its share of each batch,
    # the optimizer state sharded (pyoptim.distributed.ShardedOptimizer).
    distributed: bool = False

    def config(self) -> dict:
        """The settings as JSON-able values, as a History's ``config`` records them."""
        config = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "data_dir"}
        config["data_dir"] = None if self.data_dir is None else str(self.data_dir)
        return config


@dataclass
class ExperimentData:
    """The splits a run trains on, stops early on (None without a validation fraction) and is tested on."""

    train: Split
    validation: Split | None
    test: Split


@dataclass
class Training:
    """One model with one optimizer, ready to train (see prepare_training)."""

    settings: ExperimentSettings
    model: Sequential
    optimizer: Optimizer | ShardedOptimizer
    scheduler: LRScheduler | ReduceLROnPlateau | None
    hyperparameters: dict  # as given, without the rule's defaults


@dataclass
class Comparison:
    """Several rules ready to train the same model (see prepare_comparison)."""

    settings: ExperimentSettings
    entries: list  # of RuleEntry
    probe: Sequential  # a model as every rule will train it: for describing it


def check_settings(settings: ExperimentSettings) -> None:
    """InvalidType or InvalidValue naming the first field of `settings` that cannot run.

    The activation and the schedule are checked where they are built (``build_model``,
    ``build_scheduler``; prepare_training calls both).
    """
    if not isinstance(settings, ExperimentSettings):
        raise _checks.InvalidType("settings", f"expected ExperimentSettings, got {type(settings).__name__}")
    s = settings
    _checks.choice("model", s.model, MODELS)
    _checks.choice("dtype", s.dtype, DTYPES)
    _checks.integer("epochs", s.epochs, min=1, expected="a positive integer")
    if not (isinstance(s.batch_size, str) and s.batch_size.lower() == "full"):
        _checks.integer("batch_size", s.batch_size, min=1, expected="an int >= 1 or 'full'")
    _checks.real("validation_fraction", s.validation_fraction, min=0, max=1, max_open=True)
    if s.patience is not None:
        _checks.integer("patience", s.patience, min=1, expected="a positive integer")
        if s.validation_fraction == 0:
            raise _checks.InvalidValue("patience", "early stopping needs a validation split "
                                                   "(a validation fraction > 0)")
    if s.threads is not None:
        _checks.integer("threads", s.threads, min=1, expected="a positive integer")
    if s.data_dir is not None:
        if not isinstance(s.data_dir, (str, os.PathLike)):
            raise _checks.InvalidType("data_dir", f"expected a directory path or None, got {s.data_dir!r}")
        if not Path(s.data_dir).is_dir():
            raise _checks.InvalidValue("data_dir", f"{s.data_dir} is not a directory")
    if s.model == "mlp":
        if isinstance(s.hidden, (str, numbers.Number)):
            raise _checks.InvalidType("hidden", f"expected a sequence of layer widths, got {s.hidden!r}")
        for width in s.hidden:
            _checks.integer("hidden", width, min=1, expected="positive widths")
    if s.model == "binary-logreg":
        digits = list(s.digits)
        two_digits = "two different digits 0-9"
        if len(digits) != 2 or digits[0] == digits[1]:
            raise _checks.InvalidValue("digits", f"expected {two_digits}, got {digits}")
        for digit in digits:
            _checks.integer("digits", digit, min=0, max=9, expected=two_digits)
    _checks.flag("distributed", s.distributed)
    if s.distributed:
        try:
            import mpi4py  # noqa: F401
        except ImportError:
            raise _checks.InvalidValue("distributed", "needs mpi4py and an MPI: pip install \"pyoptim[mpi]\", "
                                                      "then run under mpiexec") from None
    for name in ("limit_train", "limit_test"):
        if getattr(s, name) is not None:
            _checks.integer(name, getattr(s, name), min=1, expected="a positive integer or None")


def build_model(settings: ExperimentSettings) -> Sequential:
    """The model `settings` describe, freshly initialised from ``settings.seed`` (the same
    weights at every call)."""
    dtype = np.dtype(settings.dtype)
    if settings.model == "logreg":
        return logistic_regression(784, 10, dtype=dtype, seed=settings.seed)
    if settings.model == "binary-logreg":
        return binary_logistic_regression(784, dtype=dtype, seed=settings.seed)
    return mlp(784, tuple(settings.hidden), 10, activation=settings.activation, dtype=dtype, seed=settings.seed)


def build_scheduler(settings: ExperimentSettings, optimizer: Optimizer):
    """The schedule `settings` describe over `optimizer`, or None (see make_scheduler)."""
    s = settings
    return make_scheduler(s.schedule, optimizer, epochs=s.epochs, step_size=s.step_size, gamma=s.gamma,
                          eta_min=s.eta_min, warmup_epochs=s.warmup_epochs,
                          warmup_start_factor=s.warmup_start_factor, plateau_factor=s.plateau_factor,
                          plateau_patience=s.plateau_patience)


def prepare_training(settings: ExperimentSettings, optimizer: str | type[Optimizer] = "adam",
                     hyperparameters: dict | None = None) -> Training:
    """Check everything, then build the model, the optimizer (a registered rule, by name
    in any case or by class, with `hyperparameters` over its defaults) and the schedule.
    Reads no data."""
    check_settings(settings)
    cls = optimizer_class(optimizer)
    hyper = dict(hyperparameters or {})
    check_hyperparameters(cls, hyper)
    if settings.distributed:
        check_shardable(cls)
    model = build_model(settings)
    built = ShardedOptimizer(cls, model, **hyper) if settings.distributed else optimizer_for_model(cls, model, **hyper)
    return Training(settings, model, built, build_scheduler(settings, local_optimizer(built)), hyper)


def prepare_comparison(settings: ExperimentSettings, entries: Sequence[RuleEntry]) -> Comparison:
    """Check everything for training the model of `settings` with each entry (from
    ``comparison_entries``), every bad hyperparameter before any training starts.
    Reads no data."""
    check_settings(settings)
    entries = list(entries)
    if not entries:
        raise _checks.InvalidValue("rules", "expected at least one rule")
    probe = build_model(settings)
    for entry in entries:
        if settings.distributed:
            try:
                check_shardable(entry.cls)
            except _checks.InvalidValue as error:
                raise _checks.InvalidValue("rules", f"with distributed: {error.problem}") from None
        check_hyperparameters(entry.cls, entry.hyper)
        build_scheduler(settings, entry.build(probe))
    return Comparison(settings, entries, probe)


def load_experiment_data(settings: ExperimentSettings) -> ExperimentData:
    """MNIST as the model of `settings` takes it (see load_mnist_splits), with the validation
    split held out; binary-logreg keeps the samples of its two digits."""
    s = settings
    train, test = load_mnist_splits(s.data_dir, dtype=np.dtype(s.dtype), limit_train=s.limit_train,
                                    limit_test=s.limit_test)
    if s.model == "binary-logreg":
        train = binary_digits(train.x, train.y, *s.digits)
        test = binary_digits(test.x, test.y, *s.digits)
    train, validation = split_validation(train, s.validation_fraction, seed=s.seed)
    return ExperimentData(train, validation, test)


def run_training(training: Training, data: ExperimentData, *, on_batch: BatchCallback | None = None,
                 on_epoch: EpochCallback | None = None) -> History:
    """Train (``fit`` with the settings' epochs, batches, schedule, early stopping and kernel
    threads), then measure the test set unless the run diverged. The History's ``config``
    holds the settings, the optimizer's name and the hyperparameters."""
    s = training.settings
    with num_threads(s.threads):
        history = fit(training.model, training.optimizer, data.train, epochs=s.epochs, batch_size=s.batch_size,
                      validation=data.validation, scheduler=training.scheduler, early_stopping_patience=s.patience,
                      seed=s.seed, on_batch=on_batch, on_epoch=on_epoch)
        if not history.diverged:
            history.test_loss, history.test_accuracy = training.model.evaluate(data.test.x, data.test.y)
    history.config = {**s.config(), "optimizer": type(local_optimizer(training.optimizer)).__name__,
                      "hyperparameters": training.hyperparameters}
    return history


def save_training(training: Training, history: History, directory: PathLike) -> list:
    """Write ``history.json`` and, unless the run diverged (a model of NaNs is worth nothing),
    ``model.npz`` with its training config as metadata; returns the paths written."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = [directory / "history.json"]
    history.save_json(written[0])
    if not history.diverged:
        model = training.model
        model.metadata = {"input": "MNIST images flattened row-major to 784 values, divided by 255",
                          "training": history.config, "test_accuracy": history.test_accuracy}
        model.save(directory / "model.npz")
        written.insert(0, directory / "model.npz")
    return written


def run_comparison(comparison: Comparison, data: ExperimentData, *,
                   on_start: Callable[[RuleEntry], None] | None = None, on_batch: BatchCallback | None = None,
                   on_epoch: Callable[[RuleEntry, History], None] | None = None) -> list:
    """Train a fresh model with each entry's rule (see compare_rules: same initial weights,
    same batches); returns a RuleResult per entry."""
    s = comparison.settings
    with num_threads(s.threads):
        return compare_rules(lambda: build_model(s), comparison.entries, data.train, data.test, epochs=s.epochs,
                             batch_size=s.batch_size, validation=data.validation,
                             make_scheduler=lambda optimizer: build_scheduler(s, optimizer),
                             early_stopping_patience=s.patience, seed=s.seed, on_start=on_start,
                             on_batch=on_batch, on_epoch=on_epoch, distributed=s.distributed)


def save_comparison(comparison: Comparison, data: ExperimentData, results: Sequence[RuleResult],
                    directory: PathLike, *, total_seconds: float, command: str | None = None) -> list:
    """Write ``compare.md`` (a table under a description of the setup; `command`, if given,
    is the command line that ran it), ``compare.json`` (the settings and every History) and,
    when matplotlib is installed, ``compare.png`` (the curves); returns the paths written."""
    s, directory = comparison.settings, Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    setup = [f"model: {describe_model(s, comparison.probe)}",
             f"{len(data.train)} training samples, {len(data.validation) if data.validation else 0} validation, "
             f"{len(data.test)} test; batch size {s.batch_size}; {s.epochs} epochs; schedule {s.schedule}; "
             f"seed {s.seed}; kernel threads {s.threads or get_num_threads()}",
             "every rule starts from the same initial weights and sees the same batches in the same order"]
    if command is not None:
        setup.append(f"command: `{command}`")
    setup.append(f"total time {total_seconds:.1f} s")
    write_markdown(list(results), directory / "compare.md", title="pyoptim compare: update rules on MNIST",
                   setup=setup)
    (directory / "compare.json").write_text(json.dumps(
        {"config": s.config(), "runs": [r.history.to_dict() for r in results]}, indent=2) + "\n")
    written = [directory / "compare.md", directory / "compare.json"]
    if matplotlib_missing() is None:
        plot_curves(list(results), directory / "compare.png",
                    title=f"{architecture(comparison.probe)}, batch {s.batch_size}, schedule {s.schedule}")
        written.insert(0, directory / "compare.png")
    return written


def architecture(model: Sequential) -> str:
    """Layer widths such as "784-128-10"."""
    widths = [model.n_features] + [layer.out_features for layer in model.layers if hasattr(layer, "out_features")]
    return "-".join(map(str, widths))


def describe_model(settings: ExperimentSettings, model: Sequential) -> str:
    """E.g. "mlp 784-128-10 (relu), 101,770 float32 parameters"."""
    kind = f"{settings.model} {architecture(model)}" + (f" ({settings.activation})" if settings.model == "mlp" else "")
    return f"{kind}, {model.n_parameters:,} {model.dtype.name} parameters"
