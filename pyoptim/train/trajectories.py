"""What each update rule does, in pictures: the path of a 2-D parameter from one start.

Every rule runs through its real optimizer and kernel: the parameter is a
2-element NumPy array registered with the optimizer (``pyoptim.Adam([(w, g)])``),
the gradient of a classic test function is written into ``g`` and ``step()``
is called, as in any training loop::

    from pyoptim import train
    train.trajectories()                                  # trajectories.png: every function
    train.trajectories("rosenbrock", ["sgd+momentum", "adam:lr=0.05"], gif="rosenbrock.gif")
    train.trajectories("regression", ["sgd"], batch_sizes=["full", 8, 1])   # noise against batch size
    train.trajectories("regression", ["sgd"], batch_sizes=[4], schedules=["none", "step", "cosine"])

A rule is a spec ``NAME[+momentum|+nesterov][:KEY=VALUE]...`` (``adam:lr=0.1:betas=0.8,0.9``,
``sgd+nesterov``; ``label=`` names its path) or a :class:`Walker`. A rule given no
lr gets the function's own (``Surface.lr``), chosen so that the default picture is
instructive rather than tuned for speed. A schedule is ``NAME[:KEY=VALUE]...``,
one of ``pyoptim.train.SCHEDULES`` stepped once per step (``step:step_size=50:gamma=0.5``),
or, in Python, any ``pyoptim.lr_scheduler`` through ``Walker(schedule=factory)``.

The pieces are usable alone: :func:`walk` runs walkers on a surface and
returns the paths (:class:`Walk`); :func:`plot_walks` (:func:`walks_figure` for the
Figure), :func:`animate_walks` and :func:`plot_walks_3d` draw them (matplotlib, the
``plot`` extra). A bad argument raises InvalidType or InvalidValue (``pyoptim._checks``)
naming the argument, before anything runs.

The attribute ``pyoptim.train.trajectories`` is the function :func:`trajectories` (the
package re-exports it under the module's name); the module's other names import with
``from pyoptim.train.trajectories import walk``.
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator, Sequence, Union

import numpy as np

from .. import _checks
from .._checks import PathLike
from ..lr_scheduler import LRScheduler, ReduceLROnPlateau
from ..optim import Optimizer
from .optimizers import check_hyperparameters, optimizer_class, parse_hyper_value
from .report import matplotlib_missing, new_figure, rule_style
from .schedules import SCHEDULES, make_scheduler

# ---- the test functions ---------------------------------------------------------------------


@dataclass(frozen=True)
class Surface:
    """A loss over two parameters, with what it takes to make an instructive picture of it.

    ``value(x, y)`` and ``gradient(x, y)`` (a pair) take floats or arrays alike. A
    surface with ``samples`` (the regression) also has ``batch_gradient(x, y, rows)``,
    the gradient of the loss over those samples only, for mini-batch descent.
    ``lr`` gives, per rule (lower-case labels such as ``"sgd+momentum"``), the lr a
    rule gets when its spec gives none (see lr_for).
    """

    name: str
    formula: str
    value: Callable
    gradient: Callable
    minima: tuple  # ((x, y), ...): every minimum, global or local, in the picture
    start: tuple
    steps: int
    extent: tuple  # (x_min, x_max, y_min, y_max) of the picture
    lr: dict
    tolerance: float  # a path has arrived once its loss is within this of the lowest minimum
    every: int  # a marker every this many steps
    samples: int = 0  # 0: a deterministic function; else the number of samples behind the loss
    batch_gradient: Callable | None = None
    axis_names: tuple = ("x", "y")

    @property
    def minimum_value(self) -> float:
        return min(float(self.value(x, y)) for x, y in self.minima)

    def lr_for(self, walker: "Walker") -> float | None:
        """The lr `walker` runs with when its hyperparameters give none: this surface's for its
        variant, else for its class (RMSprop+momentum gets RMSprop's), else the class's default."""
        for key in (walker.variant.lower(), walker.cls.__name__.lower()):
            if key in self.lr:
                return self.lr[key]
        return walker.cls.default_hyper().get("lr")


def _bowl_value(x, y):
    return 0.1 * x * x + 2.0 * y * y


def _bowl_gradient(x, y):
    return 0.2 * x, 4.0 * y


def _rosenbrock_value(x, y):
    return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2


def _rosenbrock_gradient(x, y):
    valley = y - x * x
    return -2.0 * (1.0 - x) - 400.0 * x * valley, 200.0 * valley


def _beale_terms(x, y):
    return 1.5 - x + x * y, 2.25 - x + x * y * y, 2.625 - x + x * y ** 3


def _beale_value(x, y):
    t1, t2, t3 = _beale_terms(x, y)
    return t1 * t1 + t2 * t2 + t3 * t3


def _beale_gradient(x, y):
    t1, t2, t3 = _beale_terms(x, y)
    return (2.0 * (t1 * (y - 1.0) + t2 * (y * y - 1.0) + t3 * (y ** 3 - 1.0)),
            2.0 * x * (t1 + 2.0 * t2 * y + 3.0 * t3 * y * y))


def _saddle_value(x, y):
    # Two minima at (0, +-1), a saddle between them at the origin (loss 1/4).
    return 0.5 * x * x + 0.25 * (y * y - 1.0) ** 2


def _saddle_gradient(x, y):
    return x, y * (y * y - 1.0)


def _himmelblau_value(x, y):
    return (x * x + y - 11.0) ** 2 + (x + y * y - 7.0) ** 2


def _himmelblau_gradient(x, y):
    a, b = x * x + y - 11.0, x + y * y - 7.0
    return 4.0 * x * a + 2.0 * b, 2.0 * a + 4.0 * y * b


def regression_surface(samples: int = 64, *, slope: float = 1.5, intercept: float = -1.0, noise: float = 0.5,
                       x_range: tuple = (-0.5, 2.5), seed: int = 0, start: tuple = (-1.0, 2.5),
                       steps: int = 150) -> Surface:
    """The mean squared error of the line ``y = a x + b`` over `samples` noisy points of
    ``slope x + intercept`` (x uniform in `x_range`): a tilted, elongated bowl in (a, b)
    whose minimum is the least-squares fit. Its batch gradients are those of a mini-batch."""
    samples = _checks.integer("samples", samples, min=2)
    rng = np.random.default_rng(_checks.integer("seed", seed, min=0))
    xs = rng.uniform(float(x_range[0]), float(x_range[1]), samples)
    ys = slope * xs + intercept + _checks.real("noise", noise, min=0.0) * rng.standard_normal(samples)
    # The loss over a grid from the data's moments: one pass however fine the grid.
    sx, sy, sxx, sxy, syy = xs.mean(), ys.mean(), (xs * xs).mean(), (xs * ys).mean(), (ys * ys).mean()

    def value(a, b):
        return 0.5 * (a * a * sxx + 2.0 * a * b * sx + b * b - 2.0 * a * sxy - 2.0 * b * sy + syy)

    def gradient(a, b):
        return a * sxx + b * sx - sxy, a * sx + b - sy

    def batch_gradient(a, b, rows):
        x = xs[rows]
        residual = a * x + b - ys[rows]
        return float(np.mean(residual * x)), float(np.mean(residual))

    fit = np.linalg.solve(np.array([[sxx, sx], [sx, 1.0]]), np.array([sxy, sy]))
    return Surface(
        "regression", f"least squares, y = a x + b + noise ({samples} samples)", value, gradient,
        minima=((float(fit[0]), float(fit[1])),), start=start, steps=steps, extent=(-1.5, 3.0, -2.5, 3.5),
        lr={"sgd": 0.2, "sgd+momentum": 0.03, "sgd+nesterov": 0.03, "adagrad": 0.8, "rmsprop": 0.05,
            "adam": 0.1, "adamw": 0.1, "nadam": 0.1, "radam": 0.2, "adamax": 0.2, "lion": 0.01, "adadelta": 5.0},
        tolerance=1e-3, every=10, samples=samples, batch_gradient=batch_gradient, axis_names=("slope a", "intercept b"))


SURFACES: dict = {s.name: s for s in (
    Surface("bowl", "ill-conditioned bowl, f = x²/10 + 2y²", _bowl_value, _bowl_gradient,
            minima=((0.0, 0.0),), start=(-4.5, 1.5), steps=100, extent=(-5.0, 1.5, -2.2, 2.2),
            lr={"sgd": 0.4, "sgd+momentum": 0.05, "sgd+nesterov": 0.05, "adagrad": 0.5, "rmsprop": 0.05,
                "adam": 0.2, "adamw": 0.2, "nadam": 0.2, "radam": 0.2, "adamax": 0.3, "lion": 0.05,
                "adadelta": 10.0},
            tolerance=1e-3, every=10),
    Surface("rosenbrock", "Rosenbrock, f = (1 - x)² + 100 (y - x²)²", _rosenbrock_value, _rosenbrock_gradient,
            minima=((1.0, 1.0),), start=(-1.5, 2.0), steps=1500, extent=(-2.0, 2.0, -1.0, 3.0),
            lr={"sgd": 1e-3, "sgd+momentum": 3e-4, "sgd+nesterov": 3e-4, "adagrad": 0.5, "rmsprop": 0.01,
                "adam": 0.05, "adamw": 0.05, "nadam": 0.05, "radam": 1e-3, "adamax": 0.1, "lion": 0.003,
                "adadelta": 1.0},
            tolerance=1e-4, every=100),
    Surface("beale", "Beale, f = (1.5 - x + xy)² + (2.25 - x + xy²)² + (2.625 - x + xy³)²",
            _beale_value, _beale_gradient, minima=((3.0, 0.5),), start=(-2.0, 2.0), steps=1000,
            extent=(-4.5, 4.5, -4.5, 4.5),
            lr={"sgd": 1e-3, "sgd+momentum": 1e-3, "sgd+nesterov": 1e-3, "adagrad": 0.5, "rmsprop": 0.01,
                "adam": 0.05, "adamw": 0.05, "nadam": 0.05, "radam": 1e-3, "adamax": 0.1, "lion": 0.01,
                "adadelta": 1.0},
            tolerance=1e-4, every=50),
    Surface("saddle", "saddle between two minima, f = x²/2 + (y² - 1)²/4", _saddle_value, _saddle_gradient,
            minima=((0.0, -1.0), (0.0, 1.0)), start=(-2.0, 1e-3), steps=150, extent=(-2.5, 2.5, -1.6, 1.6),
            lr={"sgd": 0.05, "sgd+momentum": 0.05, "sgd+nesterov": 0.05, "adagrad": 0.5, "rmsprop": 0.05,
                "adam": 0.05, "adamw": 0.05, "nadam": 0.05, "radam": 0.1, "adamax": 0.1, "lion": 0.01,
                "adadelta": 10.0},
            tolerance=1e-4, every=10),
    Surface("himmelblau", "Himmelblau, f = (x² + y - 11)² + (x + y² - 7)²", _himmelblau_value,
            _himmelblau_gradient,
            minima=((3.0, 2.0), (-2.805118086952745, 3.131312518250573),
                    (-3.779310253377747, -3.283185991286170), (3.584428340330492, -1.848126526964404)),
            start=(-0.3, -0.9), steps=300, extent=(-5.0, 5.0, -5.0, 5.0),
            lr={"sgd": 0.01, "sgd+momentum": 0.002, "sgd+nesterov": 0.002, "adagrad": 1.0, "rmsprop": 0.05,
                "adam": 0.1, "adamw": 0.1, "nadam": 0.1, "radam": 0.002, "adamax": 0.2, "lion": 0.05,
                "adadelta": 10.0},
            tolerance=1e-4, every=20),
    regression_surface(),
)}
#: The functions ``pyoptim trajectories`` draws by default, one panel each.
TEST_FUNCTIONS = ("bowl", "rosenbrock", "beale", "saddle", "himmelblau")
DEFAULT_RULES = ("sgd", "sgd+momentum", "sgd+nesterov", "adagrad", "rmsprop", "adam")
#: Batch sizes of the batch picture: all 64 samples, mini-batches, one sample.
DEFAULT_BATCH_SIZES = ("full", 16, 4, 1)
DEFAULT_SCHEDULES = ("none", "step", "exponential", "cosine")


def surface_named(name: str | Surface) -> Surface:
    """A Surface, or the one of SURFACES called `name` (any case)."""
    if isinstance(name, Surface):
        return name
    if not isinstance(name, str):
        raise _checks.InvalidType("function", f"expected a name or a Surface, got {type(name).__name__}")
    surface = SURFACES.get(name.lower())
    if surface is None:
        raise _checks.InvalidValue("function", f"expected one of {', '.join(SURFACES)} or 'all', got {name!r}")
    return surface


# ---- the walkers -----------------------------------------------------------------------------

#: A scheduler built from the optimizer and the number of steps, for schedules not in SCHEDULES.
ScheduleFactory = Callable[[Optimizer, int], Union[LRScheduler, ReduceLROnPlateau]]
# The variants a spec can ask for with "+name": extra hyperparameters, for the rules that take them.
VARIANTS = {"momentum": {"momentum": 0.9}, "nesterov": {"momentum": 0.9, "nesterov": True}}
# make_scheduler's arguments a schedule spec takes: counts in steps, hence "warmup_steps".
SCHEDULE_OPTIONS = {"step_size": "step_size", "gamma": "gamma", "eta_min": "eta_min",
                    "warmup_steps": "warmup_epochs", "warmup_start_factor": "warmup_start_factor",
                    "plateau_factor": "plateau_factor", "plateau_patience": "plateau_patience"}
_INTEGER_OPTIONS = {"step_size", "warmup_steps", "plateau_patience"}


@dataclass
class Walker:
    """One path: an optimizer class with hyperparameters (without an lr, it gets the
    surface's for `variant`), a schedule stepped once per step, and the samples per
    step (None: every sample, the only choice on a function without samples)."""

    label: str
    cls: type[Optimizer]
    hyper: dict = field(default_factory=dict)
    variant: str = ""  # the key of Surface.lr; by default the class's name
    schedule: str | ScheduleFactory = "none"
    schedule_options: dict = field(default_factory=dict)
    batch_size: int | None = None

    def __post_init__(self) -> None:
        if not self.variant:
            self.variant = self.cls.__name__

    @classmethod
    def parse(cls, spec: str) -> "Walker":
        """A walker from ``NAME[+momentum|+nesterov][:KEY=VALUE]...`` (see the module's doc)."""
        if not isinstance(spec, str) or not spec.strip():
            raise _checks.InvalidType("rules", f"expected a rule such as 'adam:lr=0.1', got {spec!r}")
        head, *items = [part.strip() for part in spec.split(":")]
        name, _, suffix = head.partition("+")
        try:
            rule = optimizer_class(name)
        except _checks.ArgumentError as e:
            raise _checks.InvalidValue("rules", f"{spec!r}: {e.problem}") from None
        label, variant, hyper = rule.__name__, rule.__name__, {}
        if suffix:
            extra = VARIANTS.get(suffix.lower())
            if extra is None or not set(extra) <= set(rule.default_hyper()):
                takes = [v for v, h in VARIANTS.items() if set(h) <= set(rule.default_hyper())]
                raise _checks.InvalidValue("rules", f"{spec!r}: {rule.__name__} has no variant {suffix!r}"
                                                    + (f"; it has {', '.join(takes)}" if takes else ""))
            label = variant = f"{rule.__name__}+{'Nesterov' if suffix.lower() == 'nesterov' else suffix.lower()}"
            hyper.update(extra)
        given = []
        for item in items:
            key, sep, text = (s.strip() for s in item.partition("="))
            if not sep or not key:
                raise _checks.InvalidValue("rules", f"{spec!r}: expected KEY=VALUE after ':', got {item!r}")
            if key == "label":
                label = text
                continue
            try:
                hyper[key] = parse_hyper_value(rule, key, [text])
            except ValueError as e:
                raise _checks.InvalidValue("rules", f"{spec!r}: {e}") from None
            given.append(f"{key}={text}")
        if given and label == variant:
            label += " " + " ".join(given)
        return cls(label, rule, hyper, variant)


def parse_schedule(spec: str) -> tuple:
    """``(name, options)`` from ``NAME[:KEY=VALUE]...``, NAME one of SCHEDULES, KEY one of SCHEDULE_OPTIONS."""
    if not isinstance(spec, str):
        raise _checks.InvalidType("schedules", f"expected a schedule such as 'cosine', got {spec!r}")
    head, *items = [part.strip() for part in spec.split(":")]
    if head.lower() not in SCHEDULES:
        raise _checks.InvalidValue("schedules", f"{spec!r}: expected one of {', '.join(SCHEDULES)}")
    options: dict = {}
    for item in items:
        key, sep, text = (s.strip() for s in item.partition("="))
        if not sep or key not in SCHEDULE_OPTIONS:
            raise _checks.InvalidValue("schedules", f"{spec!r}: expected KEY=VALUE with KEY one of "
                                                    f"{', '.join(SCHEDULE_OPTIONS)}, got {item!r}")
        try:
            options[key] = int(text) if key in _INTEGER_OPTIONS else float(text)
        except ValueError:
            kind = "an integer" if key in _INTEGER_OPTIONS else "a number"
            raise _checks.InvalidValue("schedules", f"{spec!r}: {key}: expected {kind}, got {text!r}") from None
    return head.lower(), options


def parse_batch_size(value) -> int | None:
    """None for "full" (every sample), else a positive int ("stochastic" is 1)."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "full"):
        return None
    if isinstance(value, str) and value.strip().lower() == "stochastic":
        return 1
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            raise _checks.InvalidValue("batch_sizes", f"expected a positive integer, 'full' or 'stochastic', "
                                                      f"got {value!r}") from None
    return _checks.integer("batch_sizes", value, min=1, expected="a positive integer, 'full' or 'stochastic'")


def _build_scheduler(walker: Walker, optimizer: Optimizer, steps: int):
    if callable(walker.schedule):
        scheduler = walker.schedule(optimizer, steps)
        if not isinstance(scheduler, (LRScheduler, ReduceLROnPlateau)) or scheduler.optimizer is not optimizer:
            raise _checks.InvalidValue("schedules", "a schedule factory must return a pyoptim.lr_scheduler "
                                                    "scheduler over the optimizer it is given")
        return scheduler
    # Per-step runs want per-step defaults where make_scheduler's are per epoch: an
    # exponential decay to 1% over the run, a warm-up over its first tenth, patience of 10 steps.
    options = {"gamma": 0.01 ** (1.0 / steps)} if walker.schedule == "exponential" else {}
    options.update(warmup_steps=max(1, steps // 10), plateau_patience=10)
    options.update(walker.schedule_options)
    try:
        return make_scheduler(walker.schedule, optimizer, epochs=steps,
                              **{SCHEDULE_OPTIONS[k]: v for k, v in options.items()})
    except _checks.ArgumentError as e:
        by_argument = {v: k for k, v in SCHEDULE_OPTIONS.items()}
        argument = by_argument.get(e.argument, "steps" if e.argument == "epochs" else e.argument)
        raise type(e)("schedules", f"{walker.schedule}: {argument}: {e.problem}") from None


# ---- walking ---------------------------------------------------------------------------------


@dataclass
class Trajectory:
    """One walker's path: ``points[t]`` after t steps (``points[0]`` is the start), the loss
    there (the full loss, for mini-batch walkers), ``lrs[t]`` the lr of step t + 1;
    ``reached`` is the step from which the loss stayed within the tolerance of the minimum
    (None: it did not end within it), ``diverged`` the step at which the parameters became
    non-finite or left for infinity (the path stops before it)."""

    walker: Walker
    hyper: dict  # as the optimizer ran, lr included
    points: np.ndarray
    losses: np.ndarray
    lrs: np.ndarray
    reached: int | None
    diverged: int | None

    @property
    def label(self) -> str:
        return self.walker.label

    @property
    def final_loss(self) -> float:
        return float(self.losses[-1]) if self.diverged is None else math.inf

    def outcome(self, tolerance: float, minimum: float = 0.0) -> str:
        """E.g. "loss 3.1e-07, arrived at step 41": the final loss (its excess over `minimum`
        when that is not 0), and the step from which it stayed within `tolerance` of it."""
        if self.diverged is not None:
            return f"diverged at step {self.diverged}"
        arrived = f"arrived at step {self.reached}" if self.reached is not None else "not arrived"
        if minimum == 0:
            return f"loss {self.final_loss:.2g}, {arrived}"
        return f"loss - minimum {self.final_loss - minimum:.2g}, {arrived}"


@dataclass
class Walk:
    """Several walkers' paths on one surface from one start, for the same number of steps."""

    surface: Surface
    start: tuple
    steps: int
    tolerance: float
    trajectories: list
    every: int


# Far enough outside every picture to call a path gone (and before x**4 overflows).
ESCAPED = 1e12


def walk(surface: str | Surface, walkers: Sequence, *, start=None, steps: int | None = None,
         tolerance: float | None = None, every: int | None = None, seed: int = 0) -> Walk:
    """Run each walker (a Walker or a spec) from `start` for `steps` steps (by default the
    surface's) through its optimizer; mini-batches are drawn without replacement, reshuffled
    every pass over the samples from `seed`, the same order for every walker of a batch size.
    Every argument is checked before the first step."""
    return _run(_planned(surface, walkers, start=start, steps=steps, tolerance=tolerance, every=every, seed=seed))


@dataclass
class _Plan:
    """A walk checked and ready to run."""

    surface: Surface
    runs: list  # (walker, hyperparameters with the lr)
    start: tuple
    steps: int
    tolerance: float
    every: int
    seed: int


def _planned(surface, walkers, *, start, steps, tolerance, every, seed) -> _Plan:
    surface = surface_named(surface)
    walkers = _walkers(walkers)
    start = _start(surface if start is None else start)
    steps = surface.steps if steps is None else _checks.integer("steps", steps, min=1)
    tolerance = surface.tolerance if tolerance is None else _checks.real("tolerance", tolerance, min=0.0,
                                                                          min_open=True)
    if every is None:
        every = surface.every if steps == surface.steps else max(1, steps // 10)
    every = _checks.integer("every", every, min=1)
    seed = _checks.integer("seed", seed, min=0)
    return _Plan(surface, [_prepare(surface, walker, steps) for walker in walkers], start, steps, tolerance,
                 every, seed)


def _run(plan: _Plan) -> Walk:
    paths = [_walk_one(plan.surface, walker, hyper, plan.start, plan.steps, plan.tolerance, plan.seed)
             for walker, hyper in plan.runs]
    return Walk(plan.surface, plan.start, plan.steps, plan.tolerance, paths, plan.every)


def _walkers(walkers) -> list:
    if isinstance(walkers, (str, Walker)) or not isinstance(walkers, Sequence):
        raise _checks.InvalidType("rules", f"expected a list of rules, got {walkers!r}")
    if not walkers:
        raise _checks.InvalidValue("rules", "expected at least one rule")
    parsed = [w if isinstance(w, Walker) else Walker.parse(w) for w in walkers]
    for w in parsed:
        if not (isinstance(w.cls, type) and issubclass(w.cls, Optimizer)):
            raise _checks.InvalidType("rules", f"{w.label}: expected an optimizer class, got {w.cls!r}")
    return parsed


def _start(value) -> tuple:
    if isinstance(value, Surface):
        return tuple(map(float, value.start))
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)) or len(value) != 2:
        raise _checks.InvalidType("start", f"expected two numbers (x, y), got {value!r}")
    return tuple(_checks.real("start", v, expected="two finite numbers", min=-ESCAPED, max=ESCAPED)
                 for v in value)


def _prepare(surface: Surface, walker: Walker, steps: int) -> tuple:
    lr = surface.lr_for(walker)
    hyper = {**({"lr": lr} if lr is not None else {}), **walker.hyper}
    try:
        check_hyperparameters(walker.cls, hyper)
    except _checks.ArgumentError as e:
        raise type(e)("rules", f"{walker.label}: {e}") from None
    if walker.batch_size is not None:
        parse_batch_size(walker.batch_size)
        if not surface.samples or surface.batch_gradient is None:
            raise _checks.InvalidValue("batch_sizes", f"{surface.name} is a function, not a sum over samples: "
                                                      "only regression takes a batch size")
    if not callable(walker.schedule):
        _build_scheduler(walker, walker.cls([_point_pair(walker.cls, np.zeros(2), np.zeros(2))], **hyper),
                         steps)  # checks it
    return walker, hyper


def _point_pair(cls, params: np.ndarray, grads: np.ndarray) -> tuple:
    """The 2-element point as `cls` takes a parameter: as is, or as a 1 x 2 matrix (a view)
    for a rule that steps matrices only (Muon, whose orthogonalised step of a 1 x 2 matrix
    is the momentum's direction)."""
    try:
        cls.check_param_shape(params.shape, "params")
    except ValueError:
        return params.reshape(1, 2), grads.reshape(1, 2)
    return params, grads


def _evaluate(surface: Surface, gradient, params: np.ndarray, grads: np.ndarray) -> float:
    """A closure's work at the current point: the gradient into `grads`, the value returned."""
    x, y = params.tolist()
    grads[:] = gradient(x, y)
    return float(surface.value(x, y))


def _walk_one(surface: Surface, walker: Walker, hyper: dict, start: tuple, steps: int, tolerance: float,
              seed: int) -> Trajectory:
    params, grads = np.array(start, dtype=np.float64), np.zeros(2)
    optimizer = walker.cls([_point_pair(walker.cls, params, grads)], **hyper)
    scheduler = None if walker.schedule == "none" else _build_scheduler(walker, optimizer, steps)
    group = optimizer.param_groups[0]
    gradient = surface.gradient
    if walker.batch_size is not None and walker.batch_size < surface.samples and surface.batch_gradient is not None:
        batch_gradient, rows = surface.batch_gradient, _batches(surface.samples, walker.batch_size, seed)

        def gradient(x, y):
            return batch_gradient(x, y, next(rows))
    points, losses, lrs = np.empty((steps + 1, 2)), np.empty(steps + 1), np.empty(steps)
    points[0], losses[0] = params, surface.value(*start)
    diverged = None
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging path is reported, not warned about
        for t in range(steps):
            x, y = params.tolist()
            grads[:] = gradient(x, y)
            lrs[t] = group["lr"]
            if walker.cls.closure_driven:  # LBFGS: a step is up to max_iter evaluations at points it chooses
                optimizer.step(lambda: _evaluate(surface, gradient, params, grads))
            else:
                optimizer.step()
            x, y = params.tolist()
            loss = float(surface.value(x, y))
            if not (math.isfinite(loss) and abs(x) < ESCAPED and abs(y) < ESCAPED):
                diverged = t + 1
                points, losses, lrs = points[:t + 1], losses[:t + 1], lrs[:t]
                break
            points[t + 1], losses[t + 1] = params, loss
            if isinstance(scheduler, ReduceLROnPlateau):
                scheduler.step(loss)
            elif scheduler is not None:
                scheduler.step()
    # Arrived: within the tolerance from that step on (a path that passes the minimum
    # and swings out again has not arrived yet), for at least the last tenth of the
    # steps (a noisy path whose last few points happen to fall inside has not either).
    gaps = losses - surface.minimum_value
    reached = None
    if diverged is None and gaps[-1] <= tolerance:
        outside = np.flatnonzero(gaps > tolerance)
        first_inside = int(outside[-1]) + 1 if outside.size else 0
        if len(gaps) - first_inside >= max(1, len(gaps) // 10):
            reached = first_inside
    return Trajectory(walker, {**walker.cls.default_hyper(), **hyper}, points, losses, lrs, reached, diverged)


def _batches(samples: int, batch_size: int, seed: int) -> Iterator[np.ndarray]:
    """Row indices of successive mini-batches: each pass a new shuffle, the last batch of a pass
    possibly smaller (as pyoptim.train.fit draws them)."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(samples)
        for first in range(0, samples, batch_size):
            yield order[first:first + batch_size]


# ---- the one call ----------------------------------------------------------------------------


def trajectories(function: str | Surface | None = None, rules: Sequence | None = None, *,
                 batch_sizes: Sequence | None = None, schedules: Sequence | None = None, start=None,
                 steps: int | None = None, tolerance: float | None = None, every: int | None = None,
                 seed: int = 0, output: PathLike | None = "trajectories.png", gif: PathLike | None = None,
                 frames: int = 40, surface_view: PathLike | None = None) -> list:
    """Walk `rules` on `function` and draw the paths; returns the Walks (one per function).

    `function`: a name of SURFACES, a Surface, or "all": every one of TEST_FUNCTIONS,
    one panel each (the default, unless batch sizes or schedules are given: then
    "regression"). `rules`: specs or Walkers (default DEFAULT_RULES, or plain SGD
    for batch sizes and schedules). Every rule runs with every one of `batch_sizes`
    ("full", "stochastic" or an int) and of `schedules` (specs, see parse_schedule, or
    ScheduleFactory functions). `start`, `steps`, `tolerance`, `every` (a marker every so
    many steps) default to the function's. Writes `output` (PNG), `gif` (an animation of
    the paths, in `frames` frames) and `surface_view` (a 3-D view), those that are not
    None, creating their directories; ImportError without matplotlib, after every
    argument is checked.
    """
    several = isinstance(function, str) and function.lower() == "all"
    varied = batch_sizes is not None or schedules is not None
    if function is None:
        function, several = ("regression", False) if varied else ("all", True)
    surfaces = [surface_named(name) for name in TEST_FUNCTIONS] if several else [surface_named(function)]
    if several and start is not None:
        raise _checks.InvalidValue("start", "each function has its own start: give a function to choose one")
    walkers = _walkers(rules if rules is not None else ["sgd"] if varied else list(DEFAULT_RULES))
    sizes: list | None = None
    if batch_sizes is not None:
        sizes = [parse_batch_size(b) for b in _listed("batch_sizes", batch_sizes)]
    plans: list | None = None
    if schedules is not None:
        plans = [s if callable(s) else parse_schedule(s) for s in _listed("schedules", schedules)]
    combined = [_combined(w, size, plan, several_rules=len(walkers) > 1, sizes=sizes, plans=plans)
                for w in walkers for size in (sizes or [_KEEP]) for plan in (plans or [_KEEP])]
    for name, path in (("output", output), ("gif", gif), ("surface_view", surface_view)):
        if path is not None and not isinstance(path, (str, os.PathLike)):
            raise _checks.InvalidType(name, f"expected a file path or None, got {path!r}")
    frames = _checks.integer("frames", frames, min=2)
    planned = [_planned(s, combined, start=start, steps=steps, tolerance=tolerance, every=every, seed=seed)
               for s in surfaces]
    drawing = [p for p in (output, gif, surface_view) if p is not None]
    if drawing:
        missing = matplotlib_missing()
        if missing is not None:
            raise ImportError(f"drawing needs matplotlib ({missing}); install it with pip install "
                              "'pyoptim[plot]' or pip install matplotlib")
    walks = [_run(p) for p in planned]
    title = _one_rule_title(walkers[0], walks[0], sizes, plans) if len(walkers) == 1 and not several else None
    for path in drawing:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    if output is not None:
        plot_walks(walks, output, title=title)
    if gif is not None:
        animate_walks(walks, gif, frames=frames, title=title)
    if surface_view is not None:
        plot_walks_3d(walks, surface_view, title=title)
    return walks


# A batch size or schedule list not given: each walker keeps its own.
_KEEP = object()


def _combined(walker: Walker, size, plan, *, several_rules: bool, sizes, plans) -> Walker:
    """`walker` with batch size `size` and schedule `plan` (or its own, for _KEEP), labelled
    by what tells it apart from the others."""
    varies = (sizes is not None and len(sizes) > 1) or (plans is not None and len(plans) > 1)
    parts = [walker.label] if several_rules or not varies else []
    changed = {}
    if size is not _KEEP:
        changed["batch_size"] = size
        if len(sizes) > 1:
            parts.append(_batch_label(size))
    if plan is not _KEEP:
        name, options = (plan, {}) if callable(plan) else plan
        changed.update(schedule=name, schedule_options={**walker.schedule_options, **options})
        if len(plans) > 1:
            parts.append(_schedule_label(plan))
    return replace(walker, label=", ".join(parts), **changed)


def _one_rule_title(walker: Walker, first: Walk, sizes, plans) -> str | None:
    """One rule in several settings: the rule goes into the title, the settings into the legend."""
    if not ((sizes and len(sizes) > 1) or (plans and len(plans) > 1)):
        return None
    parts = [walker.label]
    if "lr" not in walker.hyper:
        parts.append(f"lr {first.trajectories[0].hyper['lr']:g}")
    if sizes and len(sizes) == 1 and sizes[0] is not None:
        parts.append(_batch_label(sizes[0]))
    if plans and len(plans) == 1 and plans[0] != ("none", {}):
        parts.append(_schedule_label(plans[0]))
    return ", ".join(parts)


def _listed(argument: str, values) -> list:
    if isinstance(values, (str, numbers.Number)) or not isinstance(values, Sequence):
        raise _checks.InvalidType(argument, f"expected a list, got {values!r}")
    if not values:
        raise _checks.InvalidValue(argument, "expected at least one value")
    return list(values)


def _batch_label(size: int | None) -> str:
    return "full batch" if size is None else "stochastic (batch 1)" if size == 1 else f"batch {size}"


def _schedule_label(plan) -> str:
    if callable(plan):
        return getattr(plan, "__name__", "schedule")
    name, options = plan
    return ("constant lr" if name == "none" else name) + "".join(f" {k}={v:g}" for k, v in options.items())


# ---- pictures --------------------------------------------------------------------------------


def plot_walks(walks: Sequence[Walk], path: PathLike, *, title: str | None = None, dpi: int = 100) -> None:
    """Write the contour picture of `walks` (one panel each) to `path` (PNG)."""
    figure = walks_figure(walks, title=title)
    figure.savefig(path, dpi=dpi)


def walks_figure(walks: Sequence[Walk], *, title: str | None = None):
    """The contour picture as a matplotlib Figure: one panel per walk; a single walk
    also gets its loss against the step (and its lr, when a schedule changes it)."""
    walks = _checked_walks(walks)
    if len(walks) == 1:
        lr_changes = any(np.ptp(t.lrs) > 0 for t in walks[0].trajectories if t.lrs.size)
        figure = new_figure(figsize=(15, 7.5), layout="constrained")
        grid = figure.add_gridspec(2 if lr_changes else 1, 2, width_ratios=(1.15, 1))
        contours = figure.add_subplot(grid[:, 0])
        _draw_contours(contours, walks[0])
        lrs = {t.hyper["lr"] for t in walks[0].trajectories}
        _draw_paths(contours, walks[0], with_lr=len(lrs) > 1)
        if any(t.walker.batch_size is not None or t.walker.schedule != "none" for t in walks[0].trajectories):
            _draw_zoom(contours, walks[0])
        _draw_losses(figure.add_subplot(grid[0, 1]), walks[0])
        if lr_changes:
            _draw_lrs(figure.add_subplot(grid[1, 1]), walks[0])
        contours.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2, fontsize="small", frameon=False)
    else:
        columns = min(3, len(walks))
        rows = -(-len(walks) // columns)
        figure = new_figure(figsize=(6 * columns, 5.6 * rows), layout="constrained")
        axes = figure.subplots(rows, columns, squeeze=False).ravel()
        for ax, w in zip(axes, walks):
            _draw_contours(ax, w, labelled=False)
            _draw_paths(ax, w)
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, fontsize="x-small", frameon=False)
        for k, ax in enumerate(axes[len(walks):]):
            if k == 0:
                _draw_key(ax, walks)
            else:
                ax.axis("off")
    figure.suptitle(title or _title(walks), fontsize="large")
    return figure


def _checked_walks(walks) -> list:
    if isinstance(walks, Walk):
        walks = [walks]
    if not isinstance(walks, Sequence) or not walks or not all(isinstance(w, Walk) for w in walks):
        raise _checks.InvalidType("walks", f"expected a list of Walk (from walk()), got {walks!r}")
    return list(walks)


def _title(walks: list) -> str:
    if len(walks) == 1:
        return "Paths of the update rules"
    return "Paths of the update rules on classic test functions, the same start for every rule"


def _grid(surface: Surface, resolution: int = 240) -> tuple:
    x0, x1, y0, y1 = surface.extent
    xs, ys = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    return xs, ys, surface.value(xs, ys)


def _gap_levels(gaps: np.ndarray, count: int = 22) -> np.ndarray:
    """Contour levels of the loss above the minimum (`gaps` over the picture), spaced
    geometrically: close together near the minima, where the paths end, sparse on the walls."""
    low = max(float(np.quantile(gaps, 0.002)), 1e-3 * float(np.quantile(gaps, 0.5)), 1e-12)
    return np.geomspace(low, float(np.quantile(gaps, 0.98)), count)


def _draw_contours(ax, w: Walk, *, labelled: bool = True, filled: bool = True) -> None:
    s = w.surface
    xs, ys, values = _grid(s)
    from matplotlib.colors import LogNorm
    gaps = values - s.minimum_value
    levels = _gap_levels(gaps)
    if filled:
        ax.contourf(xs, ys, np.maximum(gaps, levels[0]), levels=levels, cmap="Greys_r", norm=LogNorm(), alpha=0.35,
                    extend="both")
    ax.contour(xs, ys, gaps, levels=levels, colors="0.45", linewidths=0.5)
    for i, (mx, my) in enumerate(s.minima):
        ax.plot(mx, my, marker="*", markersize=16, color="gold", markeredgecolor="black", linestyle="none",
                zorder=5, label="minimum" if i == 0 and labelled else None)
    ax.plot(*w.start, marker="o", markersize=7, color="white", markeredgecolor="black", linestyle="none", zorder=5,
            label=f"start ({w.start[0]:g}, {w.start[1]:g})" if labelled else None)
    ax.set_xlim(s.extent[0], s.extent[1])
    ax.set_ylim(s.extent[2], s.extent[3])
    ax.set_xlabel(s.axis_names[0])
    ax.set_ylabel(s.axis_names[1])
    ax.set_title(f"{s.formula}\n{w.steps} steps, a marker every {w.every}; arrived: loss within "
                 f"{w.tolerance:g} of the minimum", fontsize="small")


def _draw_paths(ax, w: Walk, upto: int | None = None, *, with_lr: bool = False) -> list:
    lines = []
    for i, t in enumerate(w.trajectories):
        colour, marker = rule_style(i)
        n = len(t.points) if upto is None else min(upto + 1, len(t.points))
        name = f"{t.label} (lr {t.hyper['lr']:g})" if with_lr else t.label
        (line,) = ax.plot(t.points[:n, 0], t.points[:n, 1], color=colour, marker=marker, markevery=w.every,
                          markersize=4.5, linewidth=1.4, alpha=0.9,
                          label=f"{name}: {t.outcome(w.tolerance, w.surface.minimum_value)}")
        lines.append(line)
    return lines


def _draw_zoom(ax, w: Walk) -> None:
    """An inset magnifying the last half of the paths, where noise and decays differ most,
    in the corner of `ax` that the paths cross least."""
    ends = np.concatenate([t.points[len(t.points) // 2:] for t in w.trajectories])
    (x0, y0), (x1, y1) = ends.min(axis=0), ends.max(axis=0)
    pad = 0.08 * max(x1 - x0, y1 - y0, 1e-9)
    everything = np.concatenate([t.points for t in w.trajectories])
    left, right, bottom, top = ax.get_xlim() + ax.get_ylim()
    fractions = (everything - (left, bottom)) / (right - left, top - bottom)
    # Set in from the edges, so that the inset's tick labels do not cover the axes' own.
    size, corners = 0.38, [(0.08, 0.07), (0.6, 0.07), (0.08, 0.55), (0.6, 0.55)]
    crossings = [np.count_nonzero((fractions[:, 0] > cx) & (fractions[:, 0] < cx + size)
                                  & (fractions[:, 1] > cy) & (fractions[:, 1] < cy + size)) for cx, cy in corners]
    cx, cy = corners[int(np.argmin(crossings))]
    inset = ax.inset_axes((cx, cy, size, size))
    xs, ys = np.meshgrid(np.linspace(x0 - pad, x1 + pad, 120), np.linspace(y0 - pad, y1 + pad, 120))
    gaps = w.surface.value(xs, ys) - w.surface.minimum_value
    inset.contour(xs, ys, gaps, levels=_gap_levels(gaps, 12), colors="0.6", linewidths=0.5)
    for i, t in enumerate(w.trajectories):
        colour, marker = rule_style(i)
        inset.plot(t.points[:, 0], t.points[:, 1], color=colour, linewidth=1, alpha=0.85)
        inset.plot(t.points[-1, 0], t.points[-1, 1], marker=marker, color=colour, markeredgecolor="black")
    for mx, my in w.surface.minima:
        inset.plot(mx, my, marker="*", markersize=14, color="gold", markeredgecolor="black", zorder=5)
    inset.set_xlim(x0 - pad, x1 + pad)
    inset.set_ylim(y0 - pad, y1 + pad)
    inset.tick_params(labelsize="x-small")
    inset.set_title("the second half, magnified; markers: last step", fontsize="x-small")
    ax.indicate_inset_zoom(inset, edgecolor="0.3")


def _draw_losses(ax, w: Walk) -> None:
    floor = w.tolerance * 1e-4
    for i, t in enumerate(w.trajectories):
        colour, marker = rule_style(i)
        gap = np.maximum(t.losses - w.surface.minimum_value, floor)
        ax.plot(np.arange(len(gap)), gap, color=colour, marker=marker, markevery=w.every, markersize=4,
                linewidth=1.2, label=t.label)
    ax.axhline(w.tolerance, color="black", linestyle=":", linewidth=1, label="tolerance")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss - minimum")
    ax.grid(True, alpha=0.3)
    ax.set_title("loss against the step (the full loss, whatever the batch)", fontsize="small")


def _draw_lrs(ax, w: Walk) -> None:
    for i, t in enumerate(w.trajectories):
        colour, marker = rule_style(i)
        ax.plot(np.arange(1, len(t.lrs) + 1), t.lrs, color=colour, marker=marker, markevery=w.every, markersize=4,
                linewidth=1.2, label=t.label)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    ax.grid(True, alpha=0.3)
    ax.set_title("learning rate of each step", fontsize="small")


def _draw_key(ax, walks: list) -> None:
    """A spare panel: each rule's learning rate on each function, and how to read the panels."""
    ax.axis("off")
    first = walks[0].trajectories
    rows = [[f"{w.trajectories[i].hyper['lr']:g}" for w in walks] for i in range(len(first))]
    height = min(0.7, 0.08 * (len(first) + 1))
    table = ax.table(cellText=rows, rowLabels=[t.label for t in first], colLabels=[w.surface.name for w in walks],
                     cellLoc="center", bbox=(0.3, 0.9 - height, 0.7, height))
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    for i in range(len(first)):
        label = table[i + 1, -1].get_text()
        label.set_color(rule_style(i)[0])
        label.set_fontweight("bold")
    for j in range(len(walks)):
        table[0, j].get_text().set_fontsize(7.5)  # the functions' names, in columns sized for numbers
    ax.text(0.5, 0.97, "the learning rate of each rule on each function", ha="center", va="bottom",
            transform=ax.transAxes, fontsize="medium")
    ax.text(0.0, 0.82 - height, "o: the start, the same for every rule\n"
                                "star: a minimum\n"
                                "markers every few steps: far apart = fast\n"
                                "arrived: the loss stays within the tolerance from that step on",
            ha="left", va="top", transform=ax.transAxes, fontsize="small", linespacing=1.6)


def animate_walks(walks: Sequence[Walk], path: PathLike, *, frames: int = 40, fps: int = 10,
                  title: str | None = None, dpi: int = 70) -> None:
    """Write an animated GIF of the paths growing step by step (matplotlib's animation,
    Pillow's writer); every panel reaches its last step at the last frame."""
    walks = _checked_walks(walks)
    frames = _checks.integer("frames", frames, min=2)
    fps = _checks.integer("fps", fps, min=1)
    columns = min(3, len(walks))
    rows = -(-len(walks) // columns)
    size = (8.0, 7.5) if len(walks) == 1 else (6.0, 5.6)
    figure = new_figure(figsize=(size[0] * columns, size[1] * rows), layout="constrained")
    from matplotlib.animation import FuncAnimation, PillowWriter
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    drawn = []
    for ax, w in zip(axes, walks):
        # Contour lines without the shading: flat colours keep a GIF's palette, and its size, small.
        _draw_contours(ax, w, labelled=False, filled=False)
        lines = _draw_paths(ax, w, upto=0)
        heads = [ax.plot([], [], marker="o", markersize=6, color=line.get_color(), markeredgecolor="black",
                         linestyle="none", zorder=6)[0] for line in lines]
        ax.legend(handles=lines, labels=[t.label for t in w.trajectories], loc="upper center",
                  bbox_to_anchor=(0.5, -0.1), ncol=3, fontsize="small" if len(walks) == 1 else "x-small",
                  frameon=False)
        drawn.append((w, lines, heads, ax.text(0.02, 0.97, "", transform=ax.transAxes, va="top")))
    for ax in axes[len(walks):]:
        ax.axis("off")
    figure.suptitle(title or _title(walks), fontsize="large")

    def show(frame: int) -> list:
        changed = []
        for w, lines, heads, counter in drawn:
            step = round(w.steps * frame / (frames - 1))
            for t, line, head in zip(w.trajectories, lines, heads):
                n = min(step + 1, len(t.points))
                line.set_data(t.points[:n, 0], t.points[:n, 1])
                head.set_data(t.points[n - 1:n, 0], t.points[n - 1:n, 1])
                changed += [line, head]
            counter.set_text(f"step {step}")
            changed.append(counter)
        return changed

    # Laid out once: constrained layout would otherwise measure every text again for each frame.
    figure.draw_without_rendering()
    figure.set_layout_engine("none")
    animation = FuncAnimation(figure, show, frames=frames, blit=False)
    animation.save(str(path), writer=PillowWriter(fps=fps), dpi=dpi)


def plot_walks_3d(walks: Sequence[Walk], path: PathLike, *, title: str | None = None, dpi: int = 100) -> None:
    """Write a 3-D view of each surface with the paths on it (log-scaled height where the
    contours are) to `path` (PNG)."""
    walks = _checked_walks(walks)
    columns = min(3, len(walks))
    rows = -(-len(walks) // columns)
    figure = new_figure(figsize=(6.5 * columns, 5.5 * rows), layout="constrained")
    for k, w in enumerate(walks):
        ax = figure.add_subplot(rows, columns, k + 1, projection="3d")
        s = w.surface
        xs, ys, values = _grid(s, resolution=100)
        gaps = values - s.minimum_value
        floor = _gap_levels(gaps)[0]
        ax.plot_surface(xs, ys, np.log10(np.maximum(gaps, floor)), cmap="viridis", alpha=0.55, linewidth=0,
                        antialiased=True)
        for i, t in enumerate(w.trajectories):
            colour, marker = rule_style(i)
            inside = ((t.points[:, 0] >= s.extent[0]) & (t.points[:, 0] <= s.extent[1])
                      & (t.points[:, 1] >= s.extent[2]) & (t.points[:, 1] <= s.extent[3]))
            shown = t.points[inside]
            heights = np.log10(np.maximum(t.losses[inside] - s.minimum_value, floor))
            ax.plot(shown[:, 0], shown[:, 1], heights, color=colour, marker=marker,
                    markevery=w.every, markersize=3, linewidth=1.6, label=t.label, zorder=10)
        for mx, my in s.minima:
            ax.scatter([mx], [my], [math.log10(floor)], marker="*", s=120, color="gold", edgecolor="black")
        ax.set_xlabel(s.axis_names[0])
        ax.set_ylabel(s.axis_names[1])
        ax.set_zlabel("log10(loss - minimum)")
        ax.set_title(s.formula, fontsize="small")
        ax.view_init(elev=40, azim=-60)
        if k == 0:
            ax.legend(loc="upper left", fontsize="x-small")
    figure.suptitle(title or _title(walks), fontsize="large")
    figure.savefig(path, dpi=dpi)
