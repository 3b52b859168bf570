"""Training checkpoints: the model, the optimizer's state, the schedule and the
training loop's own state (epoch, shuffling RNG, history, early-stopping
bookkeeping), so that a run resumed in a fresh process continues bit for bit.

File format (version 1): a ``numpy.savez`` archive read back with
``allow_pickle=False``: ``meta``, a 0-d unicode array of JSON (format, version,
the model's architecture, the optimizer's class, param groups, scalar state and
step counts, the scheduler's state, the loop's state); ``model/weights`` (the
flat parameter buffer); ``optimizer/<param index>/<state name>`` (state arrays);
``training/best_weights`` when early stopping keeps one. The file is written
atomically: a crash mid-write leaves the previous checkpoint as it was.
"""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np

from .._atomic import atomic_output
from ..nn import Sequential
from ..optim import Optimizer

FORMAT = "pyoptim.train.checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be restored (corrupt, truncated, or for another model or optimizer)."""

    def __init__(self, path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = Path(path), problem


def save_checkpoint(path, *, model: Sequential, optimizer: Optimizer, scheduler=None,
                    training: dict | None = None, best_weights: np.ndarray | None = None) -> None:
    """Write everything needed to resume training to `path`, atomically.

    `training` is the loop's own JSON-able state (``fit`` fills it).
    """
    state = optimizer.state_dict()
    arrays = {"model/weights": model.get_weights()}
    scalars = {}
    for index, entry in state["state"].items():
        scalars[str(index)] = {k: v for k, v in entry.items() if not isinstance(v, np.ndarray)}
        for name, value in entry.items():
            if isinstance(value, np.ndarray):
                arrays[f"optimizer/{index}/{name}"] = value
    if best_weights is not None:
        arrays["training/best_weights"] = best_weights
    meta = {
        "format": FORMAT, "version": VERSION, "model": model.config(),
        "optimizer": {"class": type(optimizer).__name__, "param_groups": _encode(state["param_groups"]),
                      "state": scalars, "skipped_steps": state["skipped_steps"]},
        "scheduler": None if scheduler is None else {"class": type(scheduler).__name__,
                                                     "state": _encode(scheduler.state_dict())},
        "training": _encode(training or {}),
    }
    text = json.dumps(meta)
    with atomic_output(Path(path)) as out:
        np.savez(out.stream, allow_pickle=False, meta=np.array(text), **arrays)


def load_checkpoint(path, *, model: Sequential, optimizer: Optimizer, scheduler=None) -> dict:
    """Restore `model`, `optimizer` and `scheduler` from `path`; return the loop's state
    (with ``best_weights`` when saved). Checks everything first: on any error nothing
    is changed and a CheckpointError names the file and the problem."""
    path = Path(path)
    meta, arrays = _read(path)
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise CheckpointError(path, f"not a pyoptim checkpoint of version {VERSION}")
    if meta["model"] != model.config():
        raise CheckpointError(path, "it was saved for another model architecture")
    weights = arrays.get("model/weights")
    if weights is None or weights.shape != model.flat.params.shape or weights.dtype != model.dtype:
        raise CheckpointError(path, "model/weights is missing or has the wrong shape or dtype")
    opt_meta = meta["optimizer"]
    if opt_meta["class"] != type(optimizer).__name__:
        raise CheckpointError(path, f"it was saved for {opt_meta['class']}, not {type(optimizer).__name__}")
    state = {int(i): dict(entry) for i, entry in opt_meta["state"].items()}
    for key, value in arrays.items():
        if key.startswith("optimizer/"):
            _, index, name = key.split("/", 2)
            state.setdefault(int(index), {})[name] = value
    sched_meta = meta["scheduler"]
    if (sched_meta is None) != (scheduler is None) or (
            scheduler is not None and sched_meta["class"] != type(scheduler).__name__):
        saved = "no scheduler" if sched_meta is None else sched_meta["class"]
        raise CheckpointError(path, f"its schedule ({saved}) does not match {type(scheduler).__name__}")
    try:
        optimizer.load_state_dict({"state": state, "param_groups": _decode(opt_meta["param_groups"]),
                                   "skipped_steps": opt_meta["skipped_steps"]})
    except (TypeError, ValueError) as e:
        raise CheckpointError(path, f"optimizer state: {e}") from None
    model.set_weights(weights)
    if scheduler is not None:
        scheduler.load_state_dict(_decode(sched_meta["state"]))
    training = _decode(meta["training"])
    if "training/best_weights" in arrays:
        training["best_weights"] = arrays["training/best_weights"]
    return training


def _read(path: Path) -> tuple:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint there")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        meta = json.loads(str(arrays.pop("meta")))
        if not isinstance(meta, dict):
            raise ValueError("meta is not a JSON object")
        for key in ("model", "optimizer", "scheduler", "training"):
            meta[key]  # noqa: B018 (presence check)
    except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as e:
        raise CheckpointError(path, f"unreadable or truncated checkpoint ({type(e).__name__}: {e})") from None
    return meta, arrays


# JSON keeps lists and string keys only; tag the rest so that it comes back as it was.
def _encode(value):
    if isinstance(value, Counter):
        return {"__counter__": [[_encode(k), v] for k, v in value.items()]}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {k: _encode(v) for k, v in value.items()}
        return {"__items__": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        raise TypeError("arrays go into the archive, not into meta")
    return value


def _decode(value):
    if isinstance(value, dict):
        if set(value) == {"__counter__"}:
            return Counter({_decode(k): v for k, v in value["__counter__"]})
        if set(value) == {"__items__"}:
            return {_decode(k): _decode(v) for k, v in value["__items__"]}
        if set(value) == {"__tuple__"}:
            return tuple(_decode(v) for v in value["__tuple__"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


__all__ = ["save_checkpoint", "load_checkpoint", "CheckpointError"]
