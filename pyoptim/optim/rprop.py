"""Rprop: torch.optim.Rprop."""

from __future__ import annotations

from .. import _checks
from .optimizer import Optimizer


class Rprop(Optimizer):
    r"""Rprop (Riedmiller and Braun, 1993), as torch.optim.Rprop (same defaults).

    Per element, with ``prev`` the gradient the last step used and ``s`` the
    element's step size (``lr`` before the first step)::

        f = etaplus if g * prev > 0, etaminus if g * prev < 0, else 1
        s = clamp(s * f, step_size_min, step_size_max)
        g = 0 where g * prev < 0
        p = p - sign(g) * s;  prev = g

    Only the gradient's sign moves the parameter, so Rprop suits full-batch
    training; ``lr`` matters only through the first step size (changing it later
    has no effect, as in torch). As torch's ``sign``, the kernel's is 0 for NaN:
    a NaN gradient element leaves its parameter and step size as they were
    that step (and is kept in ``prev``). Deviation: ``step_sizes`` must satisfy
    ``0 <= step_size_min <= step_size_max`` (torch does not check them).
    """

    rule = "rprop"

    def __init__(self, params, lr: float = 1e-2, etas: tuple = (0.5, 1.2), step_sizes: tuple = (1e-6, 50), *,
                 maximize: bool = False):
        super().__init__(params, dict(lr=lr, etas=etas, step_sizes=step_sizes, maximize=maximize))

    @classmethod
    def check_hyper(cls, group: dict) -> None:
        super().check_hyper(group)
        etaminus, etaplus = _checks.pair("etas", group["etas"])
        etaminus = _checks.real("etas[0]", etaminus, min=0.0, min_open=True, max=1.0, max_open=True)
        etaplus = _checks.real("etas[1]", etaplus, min=1.0, min_open=True)
        low, high = _checks.pair("step_sizes", group["step_sizes"])
        low = _checks.real("step_sizes[0]", low, min=0.0)
        high = _checks.real("step_sizes[1]", high, min=low)
        group["etas"], group["step_sizes"] = (etaminus, etaplus), (low, high)

    @classmethod
    def kernel_options(cls, group: dict, context) -> dict:
        (etaminus, etaplus), (low, high) = group["etas"], group["step_sizes"]
        return {"etaminus": etaminus, "etaplus": etaplus, "step_size_min": low, "step_size_max": high,
                "maximize": group["maximize"]}

    @classmethod
    def initial_value(cls, name: str, group: dict) -> float:
        return group["lr"] if name == "step_size" else 0.0
