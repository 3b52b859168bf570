"""Training checkpoints: the model, the optimizer's state, the schedule and the
training loop's own state (epoch, shuffling RNG, history, early-stopping
bookkeeping), so that a run resumed in a fresh process continues bit for bit.

File format (version 2): a ``numpy.savez`` archive read back with
``allow_pickle=False``: ``meta``, a 0-d unicode array of JSON (format, version,
the model's architecture, the optimizer's class, param groups, scalar state and
step counts, the scheduler's state, the loop's state, and for every array its
dtype, shape and SHA-256); ``digest``, the SHA-256 of ``meta``'s text;
``model/weights`` (the flat parameter buffer);
``optimizer/<param index>/<state name>`` (state arrays); ``training/best_weights``
when early stopping keeps one. The file is written atomically: a crash mid-write
leaves the previous checkpoint as it was.

Loading checks the file's own content before anything is applied (the zip's CRCs
cover each member's bytes, not which members there are): the digest of ``meta``,
the set of arrays, and every array's dtype, shape and digest; then the model,
the optimizer and the scheduler are restored together, or none of them is.
Version 1 files (no digests) still load, without that integrity check.
"""

from __future__ import annotations

import hashlib
import json
import struct
import tokenize
import zipfile
import zlib
from collections import Counter
from pathlib import Path

import numpy as np

from .._atomic import atomic_output
from ..nn import Sequential
from ..distributed import ShardedOptimizer
from ..optim import Optimizer

FORMAT = "pyoptim.train.checkpoint"
VERSION = 2
READABLE_VERSIONS = (1, 2)


class CheckpointError(ValueError):
    """A checkpoint that cannot be restored (corrupt, truncated, or for another model or optimizer)."""

    def __init__(self, path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = Path(path), problem


def _class_name(optimizer) -> str:
    """The optimizer class a checkpoint names: a ShardedOptimizer's is its rule's
    (its state_dict is the whole model's, as one process's optimizer's)."""
    return getattr(optimizer, "rule_class", type(optimizer)).__name__


def save_checkpoint(path, *, model: Sequential, optimizer: Optimizer | ShardedOptimizer, scheduler=None,
                    training: dict | None = None, best_weights: np.ndarray | None = None,
                    optimizer_state: dict | None = None) -> None:
    """Write everything needed to resume training to `path`, atomically.

    `training` is the loop's own JSON-able state (``fit`` fills it). `optimizer_state`,
    if given, is ``optimizer.state_dict()`` already taken (a distributed.ShardedOptimizer's
    is collective: every rank takes it, one writes).
    """
    state = optimizer.state_dict() if optimizer_state is None else optimizer_state
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
        "arrays": {name: _describe(array) for name, array in arrays.items()},
        "optimizer": {"class": _class_name(optimizer), "param_groups": _encode(state["param_groups"]),
                      "state": scalars, "skipped_steps": state["skipped_steps"]},
        "scheduler": None if scheduler is None else {"class": type(scheduler).__name__,
                                                     "state": _encode(scheduler.state_dict())},
        "training": _encode(training or {}),
    }
    text = json.dumps(meta)
    digest = hashlib.sha256(text.encode()).hexdigest()
    with atomic_output(Path(path)) as out:
        np.savez(out.stream, allow_pickle=False, meta=np.array(text), digest=np.array(digest), **arrays)


def load_checkpoint(path, *, model: Sequential, optimizer: Optimizer | ShardedOptimizer, scheduler=None) -> dict:
    """Restore `model`, `optimizer` and `scheduler` from `path`; return the loop's state
    (with ``best_weights`` when saved). Checks everything first: on any error nothing
    is changed and a CheckpointError names the file and the problem."""
    path = Path(path)
    meta, arrays = _read(path)
    try:
        plan = _restoration(path, meta, arrays, model, optimizer, scheduler)
    except CheckpointError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as e:
        raise CheckpointError(path, f"inconsistent checkpoint ({type(e).__name__}: {e})") from None
    optimizer_state, weights, scheduler_state, training = plan
    # Restored together: if a part refuses its state, the parts already restored go back.
    before = (optimizer.state_dict(), model.get_weights().copy(),
              None if scheduler is None else scheduler.state_dict())
    try:
        optimizer.load_state_dict(optimizer_state)
        model.set_weights(weights)
        if scheduler is not None:
            scheduler.load_state_dict(scheduler_state)
    except (TypeError, ValueError, KeyError) as e:
        optimizer.load_state_dict(before[0])
        model.set_weights(before[1])
        if scheduler is not None:
            scheduler.load_state_dict(before[2])
        raise CheckpointError(path, f"cannot be restored ({type(e).__name__}: {e})") from None
    return training


def _restoration(path: Path, meta: dict, arrays: dict, model, optimizer, scheduler) -> tuple:
    """What load_checkpoint applies: (optimizer state_dict, weights, scheduler state, loop state)."""
    if meta.get("format") != FORMAT or meta.get("version") not in READABLE_VERSIONS:
        raise CheckpointError(path, f"not a pyoptim checkpoint of version {' or '.join(map(str, READABLE_VERSIONS))}")
    if meta["model"] != model.config():
        raise CheckpointError(path, "it was saved for another model architecture")
    weights = arrays.get("model/weights")
    if weights is None or weights.shape != model.flat.params.shape or weights.dtype != model.dtype:
        raise CheckpointError(path, "model/weights is missing or has the wrong shape or dtype")
    opt_meta = meta["optimizer"]
    if not isinstance(opt_meta, dict) or opt_meta.get("class") != _class_name(optimizer):
        saved = opt_meta.get("class") if isinstance(opt_meta, dict) else opt_meta
        raise CheckpointError(path, f"it was saved for {saved}, not {_class_name(optimizer)}")
    state = {int(i): dict(entry) for i, entry in opt_meta["state"].items()}
    for key, value in arrays.items():
        if key.startswith("optimizer/"):
            parts = key.split("/")
            if len(parts) != 3 or not parts[1].isdigit() or not parts[2]:
                raise CheckpointError(path, f"malformed array name {key!r}")
            state.setdefault(int(parts[1]), {})[parts[2]] = value
        elif key not in ("model/weights", "training/best_weights"):
            raise CheckpointError(path, f"unexpected array {key!r}")
    sched_meta = meta["scheduler"]
    if (sched_meta is None) != (scheduler is None) or (
            scheduler is not None and sched_meta["class"] != type(scheduler).__name__):
        saved = "no scheduler" if sched_meta is None else sched_meta["class"]
        raise CheckpointError(path, f"its schedule ({saved}) does not match {type(scheduler).__name__}")
    optimizer_state = {"state": state, "param_groups": _decode(opt_meta["param_groups"]),
                       "skipped_steps": opt_meta["skipped_steps"]}
    scheduler_state = None if scheduler is None else _decode(sched_meta["state"])
    training = _decode(meta["training"])
    if not isinstance(training, dict):
        raise CheckpointError(path, "the training loop's state is not a JSON object")
    if "training/best_weights" in arrays:
        training["best_weights"] = arrays["training/best_weights"]
    return optimizer_state, weights, scheduler_state, training


def _describe(array: np.ndarray) -> dict:
    """What the integrity check compares: dtype, shape and the SHA-256 of the bytes."""
    data = np.ascontiguousarray(array)
    return {"dtype": data.dtype.str, "shape": list(data.shape), "sha256": hashlib.sha256(data.tobytes()).hexdigest()}


def _read(path: Path) -> tuple:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint there")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        text = str(arrays.pop("meta"))
        digest = arrays.pop("digest", None)
        meta = json.loads(text)
        if not isinstance(meta, dict):
            raise ValueError("meta is not a JSON object")
        for key in ("model", "optimizer", "scheduler", "training"):
            meta[key]  # noqa: B018 (presence check)
    except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile, NotImplementedError,
            RuntimeError, zlib.error, struct.error, UnicodeDecodeError, IndexError, OverflowError,
            SyntaxError, tokenize.TokenError, MemoryError) as e:  # the last three: a corrupt .npy header
        raise CheckpointError(path, f"unreadable or truncated checkpoint ({type(e).__name__}: {e})") from None
    if meta.get("version") != 1:  # version 2 on: the file's content checks itself
        _verify(path, text, digest, meta, arrays)
    return meta, arrays


def _verify(path: Path, text: str, digest, meta: dict, arrays: dict) -> None:
    if digest is None or str(digest) != hashlib.sha256(text.encode()).hexdigest():
        raise CheckpointError(path, "integrity check failed: meta does not match its digest")
    declared = meta.get("arrays")
    if not isinstance(declared, dict) or set(declared) != set(arrays):
        names = sorted(declared) if isinstance(declared, dict) else declared
        raise CheckpointError(path, f"integrity check failed: the archive holds {sorted(arrays)}, "
                                    f"its meta lists {names}")
    for name, array in arrays.items():
        if _describe(array) != declared[name]:
            raise CheckpointError(path, f"integrity check failed: {name!r} does not match its digest")


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
