"""Learning-rate schedules over any pyoptim optimizer, with torch.optim.lr_scheduler's semantics.

A scheduler rewrites ``group["lr"]`` of each param group when ``step()`` is
called (once per epoch or per batch, after ``optimizer.step()``). Like torch's,
the schedules are chainable: each computes the next lr from the current one,
so several schedulers on one optimizer multiply their effects
(:class:`ChainedScheduler`), and :class:`SequentialLR` switches between them at
milestones.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter
from typing import Iterable, Sequence

from .optim import Optimizer
from . import _checks


class LRScheduler:
    """Base class: subclasses implement ``get_lr()`` (and ``closed_form_lr()`` where one exists)."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer: expected a pyoptim optimizer, got {type(optimizer).__name__}")
        last_epoch = _checks.integer("last_epoch", last_epoch, min=-1, type_error=False)
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(f"param_groups[{i}] has no 'initial_lr': resuming with last_epoch >= 0 "
                               "needs the optimizer state of the run being resumed")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        self._initial = True
        self.step()
        self._initial = False

    def get_lr(self) -> list:
        raise NotImplementedError

    def get_last_lr(self) -> list:
        """The learning rates the last ``step()`` set."""
        return list(self._last_lr)

    def step(self) -> None:
        self.last_epoch += 1
        self._set_lrs(self.get_lr())

    def _restart_at(self, epoch: int) -> None:
        """Jump to `epoch` (SequentialLR's milestones), from the closed form where there is one."""
        self.last_epoch = epoch
        closed = getattr(self, "closed_form_lr", None)
        self._set_lrs(closed() if closed else self.get_lr())

    def _set_lrs(self, lrs) -> None:
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _group_lrs(self) -> list:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer",) and not callable(v)}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a state_dict(): the same keys, each value of the kind it was saved
        as; checked whole before anything changes (TypeError/ValueError otherwise)."""
        self.__dict__.update(_checked_state(state_dict, self.state_dict()))


class LambdaLR(LRScheduler):
    """lr = initial_lr * lr_lambda(epoch); one function, or one per group."""

    def __init__(self, optimizer: Optimizer, lr_lambda, last_epoch: int = -1):
        n = len(optimizer.param_groups)
        lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * n
        if len(lambdas) != n or not all(callable(f) for f in lambdas):
            raise TypeError(f"lr_lambda: expected a callable or {n} callables (one per param group)")
        self.lr_lambdas = lambdas
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        return [base * f(self.last_epoch) for base, f in zip(self.base_lrs, self.lr_lambdas)]

    def state_dict(self) -> dict:
        """As the base class's, without the functions (as torch: they are code, not state)."""
        return {k: v for k, v in super().state_dict().items() if k != "lr_lambdas"}


class StepLR(LRScheduler):
    """Multiplies the lr by `gamma` every `step_size` epochs."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        self.step_size = _checks.integer("step_size", step_size, min=1, type_error=False)
        self.gamma = _checks.real("gamma", gamma, min=0.0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        if self._initial or self.last_epoch % self.step_size != 0:
            return self._group_lrs()
        return [lr * self.gamma for lr in self._group_lrs()]

    def closed_form_lr(self) -> list:
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiplies the lr by `gamma` at each milestone epoch."""

    def __init__(self, optimizer: Optimizer, milestones: Sequence[int], gamma: float = 0.1,
                 last_epoch: int = -1):
        if isinstance(milestones, (str, bytes)) or not isinstance(milestones, Iterable):
            raise TypeError(f"milestones: expected a sequence of epochs, got {type(milestones).__name__}")
        self.milestones = Counter(_checks.integer(f"milestones[{i}]", m, min=0, type_error=False)
                                  for i, m in enumerate(milestones))
        self.gamma = _checks.real("gamma", gamma, min=0.0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        if self._initial or self.last_epoch not in self.milestones:
            return self._group_lrs()
        return [lr * self.gamma ** self.milestones[self.last_epoch] for lr in self._group_lrs()]

    def closed_form_lr(self) -> list:
        passed = sum(c for m, c in self.milestones.items() if m <= self.last_epoch)
        return [base * self.gamma ** passed for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiplies the lr by `gamma` every epoch."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = _checks.real("gamma", gamma, min=0.0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        if self._initial:
            return self._group_lrs()
        return [lr * self.gamma for lr in self._group_lrs()]

    def closed_form_lr(self) -> list:
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from the initial lr to `eta_min` over `T_max` epochs (SGDR without restarts)."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        self.T_max = _checks.integer("T_max", T_max, min=1, type_error=False)
        self.eta_min = _checks.real("eta_min", eta_min, min=0.0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        t, T, low = self.last_epoch, self.T_max, self.eta_min
        if self._initial:
            return self._group_lrs()
        if (t - 1 - T) % (2 * T) == 0:  # the cosine's trough: step up from eta_min
            return [lr + (base - low) * (1 - math.cos(math.pi / T)) / 2
                    for lr, base in zip(self._group_lrs(), self.base_lrs)]
        ratio = (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
        return [ratio * (lr - low) + low for lr in self._group_lrs()]

    def closed_form_lr(self) -> list:
        c = (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
        return [self.eta_min + (base - self.eta_min) * c for base in self.base_lrs]


class LinearLR(LRScheduler):
    """Scales the lr linearly from start_factor to end_factor over total_iters epochs (warm-up)."""

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1):
        self.start_factor = _checks.real("start_factor", start_factor, min=0.0, min_open=True, max=1.0)
        self.end_factor = _checks.real("end_factor", end_factor, min=0.0, max=1.0)
        self.total_iters = _checks.integer("total_iters", total_iters, min=1, type_error=False)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in self._group_lrs()]
        if self._initial or self.last_epoch > self.total_iters:
            return self._group_lrs()
        a, b = self.start_factor, self.end_factor
        factor = 1.0 + (b - a) / (self.total_iters * a + (self.last_epoch - 1) * (b - a))
        return [lr * factor for lr in self._group_lrs()]

    def closed_form_lr(self) -> list:
        a, b = self.start_factor, self.end_factor
        f = a + (b - a) * min(self.total_iters, self.last_epoch) / self.total_iters
        return [base * f for base in self.base_lrs]


class SequentialLR(LRScheduler):
    """Runs `schedulers` one after another, switching at the epochs in `milestones`."""

    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler], milestones: Sequence[int],
                 last_epoch: int = -1):
        schedulers = list(schedulers)
        if not schedulers:
            raise ValueError("schedulers: expected at least one scheduler")
        for i, s in enumerate(schedulers):
            if isinstance(s, ReduceLROnPlateau) or not isinstance(s, LRScheduler):
                raise TypeError(f"schedulers[{i}]: expected an epoch-based LRScheduler, got {type(s).__name__}")
            if s.optimizer is not optimizer:
                raise ValueError(f"schedulers[{i}]: belongs to another optimizer")
        milestones = list(milestones)
        if len(milestones) != len(schedulers) - 1 or milestones != sorted(milestones):
            raise ValueError(f"milestones: expected {len(schedulers) - 1} increasing epochs, got {milestones!r}")
        self.optimizer = optimizer
        self._schedulers, self._milestones = schedulers, milestones
        self.last_epoch = last_epoch + 1
        # Undo the initial steps the sub-schedulers took when they were built.
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        for s in schedulers:
            s.last_epoch -= 1
        first = schedulers[bisect_right(milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]

    def step(self) -> None:
        self.last_epoch += 1
        i = bisect_right(self._milestones, self.last_epoch)
        current = self._schedulers[i]
        if i > 0 and self._milestones[i - 1] == self.last_epoch:
            current._restart_at(0)
        else:
            current.step()
        self._last_lr = current.get_last_lr()

    def state_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_schedulers")}
        d["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return d

    def load_state_dict(self, state_dict: dict) -> None:
        own = self.state_dict()
        checked = _checked_state(state_dict, own)
        subs = checked.pop("_schedulers")
        for i, (s, d) in enumerate(zip(self._schedulers, subs)):  # all checked before any loads
            _checked_state(d, s.state_dict(), f"state_dict['_schedulers'][{i}]")
        self.__dict__.update(checked)
        for s, d in zip(self._schedulers, subs):
            s.load_state_dict(d)


class ChainedScheduler(LRScheduler):
    """Steps several schedulers together, so that their effects multiply."""

    def __init__(self, schedulers: Sequence[LRScheduler], optimizer: Optimizer | None = None):
        schedulers = list(schedulers)
        if not schedulers:
            raise ValueError("schedulers: expected at least one scheduler")
        optimizer = optimizer or schedulers[0].optimizer
        for i, s in enumerate(schedulers):
            if not isinstance(s, LRScheduler) or isinstance(s, ReduceLROnPlateau):
                raise TypeError(f"schedulers[{i}]: expected an epoch-based LRScheduler, got {type(s).__name__}")
            if s.optimizer is not optimizer:
                raise ValueError(f"schedulers[{i}]: belongs to another optimizer")
        self.optimizer = optimizer
        self._schedulers = schedulers
        self._last_lr = self._group_lrs()

    def step(self) -> None:
        for s in self._schedulers:
            s.step()
        self._last_lr = self._group_lrs()

    state_dict = SequentialLR.state_dict
    load_state_dict = SequentialLR.load_state_dict


class ReduceLROnPlateau:
    """Divides the lr by 1/`factor` when a metric has stopped improving for `patience` epochs.

    ``step(metric)`` once per epoch with the validation loss (mode ``"min"``)
    or accuracy (mode ``"max"``). Same arguments and rules as torch's.
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float | Sequence[float] = 0.0, eps: float = 1e-8):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer: expected a pyoptim optimizer, got {type(optimizer).__name__}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode: expected 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode: expected 'rel' or 'abs', got {threshold_mode!r}")
        self.factor = _checks.real("factor", factor, min=0.0, max=1.0, max_open=True)
        patience = _checks.integer("patience", patience, min=0, type_error=False)
        cooldown = _checks.integer("cooldown", cooldown, min=0, type_error=False)
        n = len(optimizer.param_groups)
        min_lrs = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * n
        if len(min_lrs) != n:
            raise ValueError(f"min_lr: expected one value or {n} (one per param group), got {len(min_lrs)}")
        self.min_lrs = [_checks.real("min_lr", x, min=0.0) for x in min_lrs]
        self.optimizer = optimizer
        self.mode, self.threshold_mode = mode, threshold_mode
        self.threshold = _checks.real("threshold", threshold, min=0.0)
        self.patience, self.cooldown = patience, cooldown
        self.eps = _checks.real("eps", eps, min=0.0)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def is_better(self, value: float, best: float) -> bool:
        if self.mode == "min":
            return value < (best * (1 - self.threshold) if self.threshold_mode == "rel" else best - self.threshold)
        return value > (best * (1 + self.threshold) if self.threshold_mode == "rel" else best + self.threshold)

    def step(self, metrics: float) -> None:
        current = _checks.real("metrics", metrics)
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
                new_lr = max(group["lr"] * self.factor, min_lr)
                if group["lr"] - new_lr > self.eps:
                    group["lr"] = new_lr
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list:
        return list(self._last_lr)

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        self.__dict__.update(_checked_state(state_dict, self.state_dict()))


def _kind(value) -> str:
    """What a saved value must stay: a flag, a whole number, a number, a list..."""
    if isinstance(value, bool):
        return "True or False"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, dict):
        return "a dict"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__


def _fits(value, kind: str) -> bool:
    if kind == "True or False":
        return isinstance(value, bool)
    if kind == "an integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "a number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "a dict":
        return isinstance(value, dict)
    if kind == "a list":
        return isinstance(value, (list, tuple))
    if kind == "a string":
        return isinstance(value, str)
    return value is None or type(value).__name__ == kind


def _checked_state(state_dict, own: dict, where: str = "state_dict") -> dict:
    """`state_dict` as a scheduler may load it: the keys of its own state, each value
    of the same kind (and lists of the same length); raises before anything changes."""
    if not isinstance(state_dict, dict):
        raise TypeError(f"{where}: expected a dict, got {type(state_dict).__name__}")
    missing, unknown = set(own) - set(state_dict), set(state_dict) - set(own)
    if missing or unknown:
        raise ValueError(f"{where}: expected the keys {sorted(own)}, got {sorted(map(str, state_dict))}")
    for key, mine in own.items():
        value, kind = state_dict[key], _kind(mine)
        if mine is not None and not _fits(value, kind):
            raise TypeError(f"{where}[{key!r}]: expected {kind}, got {type(value).__name__} {value!r}")
        if isinstance(mine, (list, tuple)) and len(value) != len(mine):
            raise ValueError(f"{where}[{key!r}]: expected {len(mine)} values (one per param group), got {len(value)}")
    return dict(state_dict)


__all__ = ["LRScheduler", "LambdaLR", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
           "LinearLR", "SequentialLR", "ChainedScheduler", "ReduceLROnPlateau"]
