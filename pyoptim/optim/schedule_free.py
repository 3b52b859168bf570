"""Schedule-Free AdamW and SGD (no torch.optim twin; the schedulefree package's)."""

from __future__ import annotations

import numpy as np

from .. import _checks
from .optimizer import Optimizer, StepContext


def _warmup_checks() -> dict:
    return {"warmup_steps": lambda value: _checks.integer("warmup_steps", value, min=0),
            "r": lambda value: _checks.real("r", value, min=0.0),
            "weight_lr_power": lambda value: _checks.real("weight_lr_power", value, min=0.0)}


class _ScheduleFree(Optimizer):
    r"""What both Schedule-Free rules share (Defazio et al., 2024, "The Road Less
    Scheduled"): the parameter holds ``y``, where gradients are taken; the state
    ``z`` holds the base optimizer's iterate; ``x``, the weighted average of the
    ``z``'s that evaluation uses, is ``(y - (1 - beta) z) / beta``, so it is not
    stored. :meth:`eval` moves the parameters to ``x`` and :meth:`train` back to
    ``y``; ``step()`` refuses to run in eval mode. A new optimizer is in train mode
    (deviation: the package starts in eval mode; before the first step the two
    points coincide). Per step :math:`t`::

        lr_t = lr * min(1, t / warmup_steps);  lr_max = max(lr_max, lr_t)
        w = t**r * lr_max**weight_lr_power;  weight_sum += w;  c = w / weight_sum
        u = (the rule's direction) + weight_decay * y
        y = lerp(y, z, c) + lr_t * (beta * (1 - c) - 1) * u;  z = z - lr_t * u

    ``z`` starts from the parameter at the first step. ``lr_max`` and
    ``weight_sum`` are scalar state (the package keeps them in the param group;
    here in each parameter's state, as every pyoptim rule's scalars), and
    ``train_mode`` sits in each param group as in the package. As the package,
    save checkpoints in eval mode, and recompute BatchNorm statistics at ``x``.
    Deviation: the package divides ``p.grad`` in place by the AdamW denominator;
    pyoptim leaves the gradient as it was.
    """

    # Deviation: the package starts in eval mode and refuses step() until train();
    # before the first step y = x = z, so pyoptim starts in train mode (nothing moves).
    group_state = {"train_mode": True}
    mode_state = "z"
    scalars_in_float64 = True  # the package keeps them as Python floats

    @classmethod
    def mode_weight(cls, group: dict, to_train: bool) -> float:
        """The weight of ``z`` in the lerp that moves a parameter from ``x`` to ``y``
        (``to_train``) or back."""
        beta = cls.mode_beta(group)
        return 1.0 - beta if to_train else 1.0 - 1.0 / beta

    @classmethod
    def mode_beta(cls, group: dict) -> float:
        raise NotImplementedError

    def train(self) -> None:
        """Put the parameters at ``y``, where the gradients are taken (before training)."""
        self._switch(to_train=True)

    def eval(self) -> None:
        """Put the parameters at ``x``, the average (before evaluating or saving)."""
        self._switch(to_train=False)

    def _switch(self, to_train: bool) -> None:
        for group, run in zip(self.param_groups, self._runs):
            if group["train_mode"] == to_train:
                continue
            if self.mode_state not in run.fresh:  # z holds history (else z = y = x)
                w = self.mode_weight(group, to_train)
                for i, (param, _) in zip(run.indices, group["params"]):
                    lerp_(param, self.state[i][self.mode_state], w)
            group["train_mode"] = to_train

    def step(self, closure=None):
        if not self.param_groups[0]["train_mode"]:
            raise RuntimeError(f"{type(self).__name__}.step: the optimizer is in eval mode; call "
                               f"optimizer.train() before training (and optimizer.eval() before evaluating)")
        return super().step(closure)


def lerp_(start: np.ndarray, end: np.ndarray, weight: float) -> None:
    """start += weight * (end - start) in place, as torch.lerp computes it (from the
    end for |weight| >= 0.5), in start's dtype."""
    w = start.dtype.type(weight)
    if abs(weight) < 0.5:
        start += w * (end - start)
    else:
        np.subtract(end, (end - start) * (start.dtype.type(1) - w), out=start)


class AdamWScheduleFree(_ScheduleFree):
    rule = "schedule_free"
    __doc__ = """Schedule-Free AdamW, as schedulefree.AdamWScheduleFree (same defaults).

    The direction is Adam's without its first moment (the average takes its
    place): ``v = beta2 * v + (1 - beta2) * g * g``, ``u = g / (sqrt(v / (1 -
    beta2**t)) + eps)``, with ``beta = betas[0]``.

    """ + (_ScheduleFree.__doc__ or "")

    hyper_checks = _warmup_checks()

    def __init__(self, params, lr: float = 0.0025, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, warmup_steps: int = 0, r: float = 0.0, weight_lr_power: float = 2.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      warmup_steps=warmup_steps, r=r, weight_lr_power=weight_lr_power))

    @classmethod
    def check_hyper(cls, group: dict) -> None:
        super().check_hyper(group)
        if group["betas"][0] <= 0.0:
            raise ValueError(f"betas: expected beta1 in (0, 1) (eval() divides by it), got {group['betas'][0]!r}")

    @classmethod
    def mode_beta(cls, group: dict) -> float:
        return group["betas"][0]

    @classmethod
    def kernel_options(cls, group: dict, context: StepContext) -> dict:
        return {**group, "adaptive": True, "z_is_new": "z" in context.fresh}


class SGDScheduleFree(_ScheduleFree):
    rule = "schedule_free"
    __doc__ = """Schedule-Free SGD, as schedulefree.SGDScheduleFree (same defaults).

    The direction is the gradient; ``beta = momentum`` (in (0, 1)).

    """ + (_ScheduleFree.__doc__ or "")

    hyper_checks = {**_warmup_checks(),
                    "momentum": lambda value: _checks.real("momentum", value, min=0.0, min_open=True,
                                                           max=1.0, max_open=True)}

    def __init__(self, params, lr: float = 1.0, momentum: float = 0.9, weight_decay: float = 0.0,
                 warmup_steps: int = 0, r: float = 0.0, weight_lr_power: float = 2.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      warmup_steps=warmup_steps, r=r, weight_lr_power=weight_lr_power))

    @classmethod
    def mode_beta(cls, group: dict) -> float:
        return group["momentum"]

    @classmethod
    def kernel_options(cls, group: dict, context: StepContext) -> dict:
        return {**group, "beta1": group["momentum"], "beta2": 0.0, "eps": 1.0, "adaptive": False,
                "z_is_new": "z" in context.fresh}
