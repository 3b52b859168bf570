"""Optimizers by name: registry look-up, hyperparameters from text, tuned learning rates.

Nothing here lists the update rules: they come from ``pyoptim.Optimizer.registry``,
and each rule's hyperparameters and defaults from its constructor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import _checks
from ..distributed import ShardedOptimizer
from ..nn import Sequential
from ..optim import Combined, Optimizer

# Learning rates for the MLP 784-128-10 on MNIST (inputs in [0, 1], batch 128):
# for each rule, the lowest validation loss after 5 epochs over learning rates
# about 2x apart (`python bench/mnist_figures.py --sweep` reruns the sweep
# around these values; Adadelta's loss is flat, within 2%, from lr 1 to 4).
# Keyed by lower-case entry label; a rule that is not here runs with its
# class's default lr.
TUNED_LR = {
    "sgd": 0.5,
    "sgd+momentum": 0.1,
    "sgd+nesterov": 0.1,
    "adam": 2e-3,
    "adamw": 2e-3,
    "nadam": 3e-3,
    "radam": 3e-3,
    "adamax": 1e-2,
    "adagrad": 3e-2,
    "rmsprop": 1e-3,
    "adadelta": 2.0,
    "lion": 3e-4,
    "rprop": 1e-2,  # a full-batch rule: on mini-batches no lr of the sweep trains well (bench/mnist_figures.md)
    "asgd": 1.0,
    "lamb": 3e-3,
    "lars": 1.0,
    "adamwschedulefree": 4e-3,
    "sgdschedulefree": 1.0,
    "sparseadam": 3e-3,
    # LBFGS: swept over 1 epoch (a step is up to 20 evaluations); the best, at the grid's bottom. A
    # full-batch method: on mini-batches it is erratic at every lr (bench/mnist_figures.md).
    "lbfgs": 0.01,
    "muon": 5e-3,  # on the weight matrices, MATRIX_COMPANION on the biases
    "adafactor": 3e-2,  # the sweep's best, at its grid's top (lr caps the relative step, min(lr, 1 / sqrt(t)))
}


def optimizer_names() -> list:
    return list(Optimizer.registry)


def optimizer_class(name: str | type[Optimizer]) -> type[Optimizer]:
    """The registered optimizer class called `name`, in any case ("adamw" -> AdamW)."""
    if isinstance(name, type) and issubclass(name, Optimizer):
        return name
    if not isinstance(name, str):
        raise _checks.InvalidType("optimizer", f"expected a name, got {type(name).__name__}")
    by_lower = {n.lower(): cls for n, cls in Optimizer.registry.items()}
    try:
        return by_lower[name.lower()]
    except KeyError:
        raise _checks.InvalidValue("optimizer", f"expected one of {', '.join(optimizer_names())} (any case), "
                                                f"got {name!r}") from None


def check_hyper_names(cls: type[Optimizer], hyper: dict) -> None:
    """ValueError naming any key of `hyper` that `cls` does not take."""
    defaults = cls.default_hyper()
    unknown = sorted(set(hyper) - set(defaults))
    if unknown:
        raise ValueError(f"{', '.join(unknown)}: not hyperparameters of {cls.__name__}, which takes "
                         f"{', '.join(defaults)}")


def check_hyperparameters(cls: type[Optimizer], hyper: dict) -> None:
    """Check `hyper` as ``cls(params, **hyper)`` would, raising InvalidType or InvalidValue
    (``pyoptim._checks``: a TypeError or ValueError) whose ``argument`` is the key of
    `hyper` at fault.

    When values fail only together (SGD's ``nesterov=True`` needs ``momentum > 0``),
    the one named is the first, in the order of `hyper`, whose addition to the
    defaults makes the check fail.
    """
    check_hyper_names(cls, hyper)
    defaults = cls.default_hyper()
    try:
        cls.check_hyper({**defaults, **hyper})  # a copy: check_hyper may normalise values in place
        return
    except (TypeError, ValueError):
        pass
    group = dict(defaults)
    for name, value in hyper.items():
        group[name] = value
        try:
            cls.check_hyper(dict(group))
        except (TypeError, ValueError) as error:
            refused = _checks.InvalidType if isinstance(error, TypeError) else _checks.InvalidValue
            if isinstance(error, _checks.ArgumentError) and error.argument == name:
                problem = error.problem
            else:
                # A rule's own checks (SGD's nesterov) start their message with the name too;
                # dropping it keeps the argument from being named twice.
                problem = str(error).removeprefix(f"{name}: ")
            raise refused(name, problem) from error


def make_optimizer(name, params, **hyper) -> Optimizer:
    """``optimizer_class(name)(params, **hyper)``, with a clear error for a hyperparameter it does
    not take; `params` may be a pyoptim.nn model (see optimizer_for_model)."""
    cls = optimizer_class(name)
    check_hyper_names(cls, hyper)
    if isinstance(params, Sequential):
        return optimizer_for_model(cls, params, **hyper)
    return cls(params, **hyper)


_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def parse_hyper_value(cls: type[Optimizer], key: str, words: list):
    """Convert command-line words to the type of `cls`'s default for `key`.

    A bool takes no word (true) or one of true/false/yes/no/1/0; a tuple
    takes as many numbers as its default has (as words or comma-separated);
    a number or string takes one word.
    """
    defaults = cls.default_hyper()
    if key not in defaults:
        check_hyper_names(cls, {key: None})
    default = defaults[key]
    words = [w for word in words for w in (word.split(",") if isinstance(default, tuple) else [word]) if w != ""]
    where = f"{key} (for {cls.__name__})"
    if isinstance(default, bool):
        if not words:
            return True
        if len(words) == 1 and words[0].lower() in _TRUE | _FALSE:
            return words[0].lower() in _TRUE
        raise ValueError(f"{where}: expected true or false, got {' '.join(words)!r}")
    if isinstance(default, tuple):
        if len(words) != len(default):
            raise ValueError(f"{where}: expected {len(default)} numbers, got {' '.join(words)!r}")
        return tuple(_number(where, w, type(d)) for w, d in zip(words, default))
    if len(words) != 1:
        raise ValueError(f"{where}: expected one value, got {' '.join(words)!r}")
    if isinstance(default, (int, float)) or default is None:
        return _number(where, words[0], type(default) if default is not None else float)
    return words[0]


def _number(where: str, word: str, kind: type):
    try:
        return int(word) if kind is int else float(word)
    except ValueError:
        raise ValueError(f"{where}: expected {'an integer' if kind is int else 'a number'}, got {word!r}") from None


@dataclass
class RuleEntry:
    """One contestant of a comparison: a label, an optimizer class, and its hyperparameters."""

    label: str
    cls: type[Optimizer]
    hyper: dict = field(default_factory=dict)

    def build(self, params, *, distributed: bool = False):
        """The optimizer over `params` ((param, grad) pairs) or over a pyoptim.nn model;
        with `distributed`, over the model's slice on this MPI rank (a
        pyoptim.distributed.ShardedOptimizer over the world communicator)."""
        if distributed:
            return ShardedOptimizer(self.cls, params, **self.hyper)
        if isinstance(params, Sequential):
            return optimizer_for_model(self.cls, params, **self.hyper)
        return self.cls(params, **self.hyper)

    def describe(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.hyper.items())


def default_lr(label: str, cls: type[Optimizer]) -> float | None:
    """The tuned learning rate for an entry label, else the class's default."""
    return TUNED_LR.get(label.lower(), cls.default_hyper().get("lr"))


# What steps the other arrays of a model (biases) beside a rule that steps matrices only
# (Muon), as torch's Muon documentation advises.
MATRIX_COMPANION = ("AdamW", {"lr": 3e-3})


def takes_flat_buffer(cls: type[Optimizer]) -> bool:
    """Whether the rule can step a pyoptim.nn model's one flat buffer (Muon cannot: matrices only)."""
    try:
        cls.check_param_shape((1,), "params")
    except ValueError:
        return False
    return True


def optimizer_for_model(cls: type[Optimizer], model, **hyper) -> Optimizer:
    """`cls` over a pyoptim.nn model: over its one flat buffer when each element's update
    reads that element alone (and for LBFGS, which sees one vector anyway); else over each
    layer's arrays as tensors of their own, as the rule is meant to see them (LAMB's and
    LARS's per-layer trust ratios, Adafactor's factored moments of each weight matrix), and,
    for a rule that steps matrices only (Muon), over the weight matrices, combined with
    MATRIX_COMPANION over the rest (pyoptim.Combined)."""
    if cls.update_is_elementwise() or cls.closure_driven:
        return cls(model.parameters(), **hyper)
    if takes_flat_buffer(cls):
        return cls([(p, g) for _, p, g in model.flat.items()], **hyper)
    layers = model.flat.items()
    matrices = [(p, g) for _, p, g in layers if p.ndim == 2]
    others = [(p, g) for _, p, g in layers if p.ndim != 2]
    main = cls(matrices, **hyper)
    if not others:
        return main
    name, companion_hyper = MATRIX_COMPANION
    companion: Any = optimizer_class(name)
    return Combined(main, companion(others, **companion_hyper))


def comparison_entries(selection: list | None = None) -> list:
    """Every registered rule with its tuned lr; SGD also with momentum 0.9 and with Nesterov.

    `selection` keeps only the entries whose label or optimizer name is in
    it (any case); a name selects its plain entry ("sgd" is plain SGD).
    """
    entries = []
    for name, cls in Optimizer.registry.items():
        variants: list[tuple[str, dict]] = [(name, {})]
        if "momentum" in cls.default_hyper() and name.lower() == "sgd":
            variants += [(f"{name}+momentum", {"momentum": 0.9}),
                         (f"{name}+Nesterov", {"momentum": 0.9, "nesterov": True})]
        for label, extra in variants:
            lr = default_lr(label, cls)
            entries.append(RuleEntry(label, cls, {**({"lr": lr} if lr is not None else {}), **extra}))
    if selection is None:
        return entries
    by_label = {e.label.lower(): e for e in entries}
    chosen = []
    for wanted in selection:
        entry = by_label.get(wanted.lower())
        if entry is None:
            raise _checks.InvalidValue("rules", f"unknown rule {wanted!r}; expected some of "
                                                f"{', '.join(e.label for e in entries)} (any case)")
        if entry not in chosen:
            chosen.append(entry)
    return chosen
