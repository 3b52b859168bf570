"""Learning-rate schedules by name, built from pyoptim.lr_scheduler, stepped once per epoch."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Mapping

from .. import _checks
from .. import lr_scheduler as sched
from ..optim import Optimizer

SCHEDULES = ("none", "step", "cosine", "exponential", "warmup-cosine", "plateau")


def make_scheduler(name: str, optimizer: Optimizer, *, epochs: int, step_size: int | None = None,
                   gamma: float | None = None, eta_min: float = 0.0, warmup_epochs: int = 1,
                   warmup_start_factor: float = 0.1, plateau_factor: float = 0.5, plateau_patience: int = 1):
    """A scheduler for `epochs` epochs, or None for "none".

    - step: lr *= gamma (default 0.1) every step_size epochs (default epochs // 3, at least 1);
    - exponential: lr *= gamma (default 0.9) every epoch;
    - cosine: cosine annealing from lr to eta_min over the run;
    - warmup-cosine: linear warm-up from warmup_start_factor * lr over
      warmup_epochs, then cosine annealing to eta_min over the remaining epochs;
    - plateau: lr *= plateau_factor after plateau_patience epochs without a
      lower validation loss (ReduceLROnPlateau).

    A bad value raises TypeError or ValueError (``pyoptim._checks.InvalidType`` /
    ``InvalidValue``) naming this function's argument: ``plateau_factor``, not the
    ``factor`` of the ReduceLROnPlateau it becomes.
    """
    if not isinstance(name, str) or name.lower() not in SCHEDULES:
        raise _checks.InvalidValue("schedule", f"expected one of {SCHEDULES}, got {name!r}")
    name = name.lower()
    if name == "none":
        return None
    if name == "step":
        size = step_size if step_size is not None else max(1, epochs // 3)
        return sched.StepLR(optimizer, step_size=size, gamma=0.1 if gamma is None else gamma)
    if name == "exponential":
        return sched.ExponentialLR(optimizer, gamma=0.9 if gamma is None else gamma)
    if name == "cosine":
        with _reported_as({"T_max": "epochs"}):
            return sched.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=eta_min)
    if name == "warmup-cosine":
        _checks.integer("warmup_epochs", warmup_epochs, min=1, max=epochs - 1,
                        expected=f"an int in [1, epochs) = [1, {epochs})", type_error=False)
        with _reported_as({"start_factor": "warmup_start_factor", "total_iters": "warmup_epochs"}):
            warmup = sched.LinearLR(optimizer, start_factor=warmup_start_factor, total_iters=warmup_epochs)
        with _reported_as({"T_max": "epochs"}):
            cosine = sched.CosineAnnealingLR(optimizer, T_max=epochs - warmup_epochs, eta_min=eta_min)
        return sched.SequentialLR(optimizer, [warmup, cosine], milestones=[warmup_epochs])
    with _reported_as({"factor": "plateau_factor", "patience": "plateau_patience"}):
        return sched.ReduceLROnPlateau(optimizer, mode="min", factor=plateau_factor, patience=plateau_patience)


@contextmanager
def _reported_as(names: Mapping[str, str]) -> Iterator[None]:
    """Re-raise a scheduler's argument error under make_scheduler's name for that argument."""
    try:
        yield
    except _checks.ArgumentError as error:
        if error.argument not in names:
            raise
        raise type(error)(names[error.argument], error.problem) from None
