"""Combined: several optimizers stepped as one, each param group keeping its own rule."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .optimizer import Optimizer


class Combined(Optimizer):
    """Several optimizers over distinct parameters, stepped, zeroed, scheduled, saved and
    loaded as one (as optax.multi_transform: a rule per group of parameters). The usual
    use is Muon, which steps matrices only, beside AdamW for the biases::

        weights = [(p, g) for name, p, g in model.flat.items() if p.ndim == 2]
        others = [(p, g) for name, p, g in model.flat.items() if p.ndim != 2]
        opt = pyoptim.Combined(pyoptim.Muon(weights, lr=0.02), pyoptim.AdamW(others, lr=3e-3))
        pyoptim.train.fit(model, opt, data, epochs=5)

    ``param_groups`` lists every optimizer's groups in order (the same dicts, so a
    schedule moves each group's lr); ``state_dict()`` numbers the parameters across
    the optimizers in order and marks each group with the index of its optimizer
    (``"optimizer"``); ``load_state_dict`` restores all of them or, on bad input,
    none. A gradient policy is set on each optimizer (its clipping norm is its own).
    """

    def __init__(self, *optimizers: Optimizer):
        if not optimizers:
            raise ValueError("optimizers: expected at least one pyoptim optimizer")
        for k, opt in enumerate(optimizers):
            if not isinstance(opt, Optimizer) or isinstance(opt, Combined) or opt.closure_driven:
                raise TypeError(f"optimizers[{k}]: expected a pyoptim optimizer (not Combined, not one that "
                                f"needs a closure), got {type(opt).__name__}")
        everything = [(f"optimizers[{k}]", p) for k, opt in enumerate(optimizers) for p, _ in opt._pairs]
        for a, (where, p) in enumerate(everything):
            for other, q in everything[a + 1:]:
                if p is q or (p.size and q.size and _overlap(p, q)):
                    raise ValueError(f"optimizers: {where} and {other} share a parameter")
        self.optimizers = list(optimizers)
        self.param_groups = [group for opt in optimizers for group in opt.param_groups]
        self.defaults = {}
        modes = [opt for opt in optimizers if opt.mode_state is not None]
        self.mode_state = modes[0].mode_state if modes else None  # type: ignore[misc]

    @property
    def state(self) -> dict:  # type: ignore[override]
        """Every optimizer's state, by the parameters' numbering across them."""
        out, offset = {}, 0
        for opt in self.optimizers:
            out.update({offset + i: entry for i, entry in opt.state.items()})
            offset += len(opt._pairs)
        return out

    @state.setter
    def state(self, value) -> None:
        raise AttributeError("state: set each optimizer's state through load_state_dict")

    @property
    def skipped_steps(self) -> int:
        return sum(opt.skipped_steps for opt in self.optimizers)

    @property
    def last_grad_norm(self) -> float | None:
        return None

    def set_gradient_policy(self, **kwargs) -> None:
        raise TypeError("set_gradient_policy: set it on each of Combined's optimizers (each clips by its own "
                        "norm), e.g. combined.optimizers[0].set_gradient_policy(...)")

    def add_param_group(self, param_group: dict) -> None:
        raise TypeError("add_param_group: add the group to one of Combined's optimizers, then combine them again")

    def step(self, closure: Callable[[], Any] | None = None):
        """One step of each optimizer, in order (``closure`` first, once)."""
        loss = closure() if closure is not None else None
        for opt in self.optimizers:
            opt.step()
        return loss

    def zero_grad(self) -> None:
        for opt in self.optimizers:
            opt.zero_grad()

    def train(self) -> None:
        for opt in self.optimizers:
            if opt.mode_state is not None:
                opt.train()  # type: ignore[attr-defined]

    def eval(self) -> None:
        for opt in self.optimizers:
            if opt.mode_state is not None:
                opt.eval()  # type: ignore[attr-defined]

    def state_dict(self) -> dict:
        state, groups, offset = {}, [], 0
        for k, opt in enumerate(self.optimizers):
            saved = opt.state_dict()
            state.update({offset + i: entry for i, entry in saved["state"].items()})
            groups += [{**g, "params": [offset + i for i in g["params"]], "optimizer": k} for g in saved["param_groups"]]
            offset += len(opt._pairs)
        return {"state": state, "param_groups": groups, "skipped_steps": self.skipped_steps}

    def load_state_dict(self, state_dict: dict) -> None:
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise TypeError("state_dict: expected a dict with keys 'state' and 'param_groups'")
        parts, offset = [], 0
        groups = list(state_dict["param_groups"])
        for k, opt in enumerate(self.optimizers):
            mine = [g for g in groups if isinstance(g, dict) and g.get("optimizer") == k]
            if len(mine) != len(opt.param_groups):
                raise ValueError(f"state_dict: has {len(mine)} param groups for optimizers[{k}], "
                                 f"which has {len(opt.param_groups)}")
            ids = [i for g in mine for i in g.get("params", ())]
            parts.append({"state": {i - offset: state_dict["state"][i] for i in ids if i in state_dict["state"]},
                          "param_groups": [{**{key: v for key, v in g.items() if key != "optimizer"},
                                            "params": [i - offset for i in g.get("params", ())]} for g in mine]})
            offset += len(opt._pairs)
        if sum(len(p["param_groups"]) for p in parts) != len(groups):
            raise ValueError("state_dict: some param groups name no optimizer of this Combined")
        before = [opt.state_dict() for opt in self.optimizers]
        done = []
        try:
            for opt, part in zip(self.optimizers, parts):
                opt.load_state_dict(part)
                done.append(opt)
        except (TypeError, ValueError):
            for opt, saved in zip(done, before):  # all or nothing
                opt.load_state_dict(saved)
            raise

    def __repr__(self) -> str:
        return "Combined(\n" + "".join(f"  {opt!r},\n" for opt in self.optimizers) + ")"


def _overlap(a, b) -> bool:
    return bool(np.shares_memory(a, b))
