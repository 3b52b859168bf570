"""Adafactor: torch.optim.Adafactor, with factored second moments for matrices."""

from __future__ import annotations

from .. import _checks
from .optimizer import Optimizer


class Adafactor(Optimizer):
    r"""Adafactor (Shazeer and Stern, 2018), as torch.optim.Adafactor (same defaults).

    At step :math:`t`, with ``w = t ** beta2_decay`` and ``rho = min(lr, 1 / sqrt(t))``::

        alpha = max(eps2, RMS(p)) * rho          (p before the decay)
        p = p * (1 - lr * weight_decay)
        parameter of 2+ axes (..., R, C):
            row_var = lerp(row_var, mean(g * g, axis=-1), w)      shape (..., R, 1)
            col_var = lerp(col_var, mean(g * g, axis=-2), w)      shape (..., 1, C)
            v = row_var * col_var / max(mean(row_var, axis=-2), eps1)
        fewer axes:
            variance = lerp(variance, g * g, w);  v = variance
        u = g / sqrt(max(v, eps1 ** 2))
        p = p - alpha / max(1, RMS(u) / d) * u

    A matrix's second moment costs R + C numbers instead of R x C. ``eps=(None,
    1e-3)``: eps1 None is the parameter dtype's machine epsilon. The sums (row
    and column means, the RMS of p and of u) are taken in float64 in a fixed
    order: the same bits for every thread count and instruction set (torch sums
    in the parameter's dtype). Parameters of two or more axes must be
    C-contiguous (the factors follow the last two axes).
    """

    rule = "adafactor"

    def __init__(self, params, lr: float = 1e-2, beta2_decay: float = -0.8, eps: tuple = (None, 1e-3),
                 d: float = 1.0, weight_decay: float = 0.0, *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, beta2_decay=beta2_decay, eps=eps, d=d,
                                      weight_decay=weight_decay, maximize=maximize))

    hyper_checks = {"eps": lambda value: None}  # a pair, checked in check_hyper

    @classmethod
    def check_hyper(cls, group: dict) -> None:
        super().check_hyper(group)
        group["beta2_decay"] = _checks.real("beta2_decay", group["beta2_decay"], max=0.0)
        eps1, eps2 = _checks.pair("eps", group["eps"])
        eps1 = None if eps1 is None else _checks.real("eps[0]", eps1, min=0.0)
        group["eps"] = (eps1, _checks.real("eps[1]", eps2, min=0.0))
        group["d"] = _checks.real("d", group["d"], min=1.0)

    @classmethod
    def kernel_options(cls, group: dict, context) -> dict:
        eps1, eps2 = group["eps"]
        return {"lr": group["lr"], "beta2_decay": group["beta2_decay"], "eps1": -1.0 if eps1 is None else eps1,
                "eps2": eps2, "d": group["d"], "weight_decay": group["weight_decay"], "maximize": group["maximize"]}
