"""What every optimizer front end (pyoptim.Optimizer, pyoptim.torch) keeps per
param group between steps: the kernel's options, rebuilt only when the group's
hyperparameters change, and the gradient policy applied before an update."""

from __future__ import annotations

import math
from typing import Callable, Iterable, NamedTuple

from .. import _checks


class StepContext(NamedTuple):
    """What a rule's kernel_options may depend on besides the hyperparameters."""

    step: int  # the step about to be taken, from 1
    fresh: frozenset  # state arrays that hold no history yet


_STALE = object()  # a key no group ever has


class KernelOptions:
    """One param group's kernel options (the tuple of floats ``StepPlan.step``
    takes), cached under the hyperparameter values they were built from.

    A rule's options may depend on which state arrays are fresh (one cached
    tuple per set of fresh arrays), never on the step count itself or on the
    scalar state, which the kernel receives and advances itself.
    """

    __slots__ = ("rule_class", "key", "_by_fresh")

    def __init__(self, rule_class) -> None:
        self.rule_class = rule_class
        self.key = _STALE
        self._by_fresh: dict = {}

    def stale(self, key) -> bool:
        return key != self.key

    def refresh(self, key) -> None:
        """The group's hyperparameters are now `key` (already checked)."""
        self.key = key
        self._by_fresh.clear()

    def invalidate(self) -> None:
        """Forget the options: the next step checks the group and rebuilds them."""
        self.refresh(_STALE)

    def values(self, group: dict, step: int, fresh: frozenset) -> tuple:
        options = self._by_fresh.get(fresh)
        if options is None:
            context = StepContext(step, fresh)
            options = self._by_fresh[fresh] = self.rule_class.kernel_option_values(group, context)
        return options


class GradientPolicy:
    """What a step does with the gradients before the update: clip them by global
    norm and/or by value inside the update pass, or skip the step when one is
    not finite. See :meth:`pyoptim.Optimizer.set_gradient_policy`."""

    def __init__(self) -> None:
        self.max_norm: float | None = None
        self.clip_value = math.inf
        self.skip_nonfinite = False
        self.skipped_steps = 0  # steps skipped for a non-finite gradient
        self.last_grad_norm: float | None = None  # global gradient norm of the last step, when computed
        # For an optimizer over one process's share of the parameters (pyoptim.distributed):
        # (sum of squares, all finite?) of its share -> the same over every process's.
        self.across: Callable[[float, bool], tuple] | None = None
        # Every gradient element is first multiplied by this (pyoptim.distributed: 1/N, so
        # that N processes' summed gradients become their mean), inside the update pass.
        self.weight = 1.0
        # Derived, kept as attributes for the steps' fast paths:
        self.needs_norm = False  # a step first reduces the gradients' norm
        self.clips = False  # a step scales or clamps gradient elements
        self.active = False  # either

    def set(self, *, max_norm: float | None = None, clip_value: float | None = None,
            skip_nonfinite: bool = False) -> None:
        if max_norm is not None:
            max_norm = _checks.real("max_norm", max_norm, min=0.0, min_open=True)
        clip = math.inf if clip_value is None else _checks.real("clip_value", clip_value, min=0.0, min_open=True)
        skip = _checks.flag("skip_nonfinite", skip_nonfinite)
        self.max_norm, self.clip_value, self.skip_nonfinite = max_norm, clip, skip
        self._derive()

    def set_weight(self, weight: float) -> None:
        """See ``weight``."""
        self.weight = float(weight)
        self._derive()

    def _derive(self) -> None:
        self.needs_norm = self.max_norm is not None or self.skip_nonfinite
        self.clips = self.max_norm is not None or self.clip_value != math.inf or self.weight != 1.0
        self.active = self.needs_norm or self.clips

    def grad_scale(self, squares: Iterable[tuple]) -> float | None:
        """The factor every gradient element is multiplied by this step, from the
        (sum of squares, all finite?) of each plan; None to skip the step."""
        total, finite = 0.0, True
        for s, f in squares:
            total, finite = total + s, finite and f
        if self.across is not None:
            total, finite = self.across(total, finite)
        w = self.weight
        self.last_grad_norm = abs(w) * math.sqrt(total) if finite else math.nan  # of the weighted gradient
        if not finite:
            if self.skip_nonfinite:
                self.skipped_steps += 1
                return None
            return w
        if self.max_norm is not None:
            return w * min(1.0, self.max_norm / (self.last_grad_norm + 1e-6))
        return w
