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
import secrets
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
    scalars, state_arrays = _split_state(state)
    arrays = {"model/weights": model.get_weights(), **state_arrays}
    if best_weights is not None:
        arrays["training/best_weights"] = best_weights
    meta = {
        "format": FORMAT, "version": VERSION, "model": model.config(),
        "optimizer": {"class": _class_name(optimizer), "param_groups": _encode(state["param_groups"]),
                      "state": scalars, "skipped_steps": state["skipped_steps"]},
        "scheduler": None if scheduler is None else {"class": type(scheduler).__name__,
                                                     "state": _encode(scheduler.state_dict())},
        "training": _encode(training or {}),
    }
    _write(Path(path), meta, arrays)


def _write(path: Path, meta: dict, arrays: dict) -> None:
    """The archive: `arrays`, `meta` as JSON (with every array's description) and its digest; atomically."""
    meta = {**meta, "arrays": {name: _describe(array) for name, array in arrays.items()}}
    text = json.dumps(meta)
    digest = hashlib.sha256(text.encode()).hexdigest()
    with atomic_output(path) as out:
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
    for key in arrays:
        if not key.startswith("optimizer/") and key not in ("model/weights", "training/best_weights"):
            raise CheckpointError(path, f"unexpected array {key!r}")
    state = _join_state(path, opt_meta["state"], arrays)
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


def _read(path: Path, parts: tuple = ("model", "optimizer", "scheduler", "training")) -> tuple:
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
        for key in parts:
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


def _split_state(state: dict) -> tuple:
    """An optimizer state_dict's entries as (JSON-able scalars by index, arrays by archive name)."""
    scalars, arrays = {}, {}
    for index, entry in state["state"].items():
        scalars[str(index)] = {k: v for k, v in entry.items() if not isinstance(v, np.ndarray)}
        arrays.update({f"optimizer/{index}/{k}": v for k, v in entry.items() if isinstance(v, np.ndarray)})
    return scalars, arrays


def _join_state(path: Path, scalars: dict, arrays: dict) -> dict:
    """The entries _split_state took apart, by param index."""
    state: dict = {int(i): dict(s) for i, s in scalars.items()}
    for key, value in arrays.items():
        if key.startswith("optimizer/"):
            parts = key.split("/")
            if len(parts) != 3 or not parts[1].isdigit() or not parts[2]:
                raise CheckpointError(path, f"malformed array name {key!r}")
            state.setdefault(int(parts[1]), {})[parts[2]] = value
    return state


def _agree(optimizer: ShardedOptimizer, error: BaseException | None, what: Path) -> None:
    """Every rank learns whether a step of a sharded checkpoint went well on all: this
    rank's error is raised here, another rank's as a CheckpointError naming it."""
    optimizer.agree(error, lambda r, _, message: CheckpointError(what, f"another rank cannot go on (rank {r}: "
                                                                      f"{message})"))


def save_sharded_checkpoint(directory, *, model: Sequential, optimizer: ShardedOptimizer, scheduler=None,
                            training: dict | None = None) -> None:
    """Write a data-parallel run's state to `directory` with no rank holding more than
    its own: every rank its slice's optimizer state (``rank-R-of-N.<id>.npz``, the
    format above with this rank's arrays; a new id each time), then rank 0
    ``checkpoint.npz`` (the model, the schedule, the loop's state and the N files
    with their digests), last, each atomically; then each rank removes its files of
    earlier checkpoints. Until the new manifest is in place the previous checkpoint is
    whole. It resumes bit for bit on N ranks (load_sharded_checkpoint); the one file of
    ``fit(checkpoint=...)`` loads on any number of ranks and in one process.
    Collective; an error on any rank is raised on all."""
    directory = Path(directory)
    token = optimizer.comm.bcast(secrets.token_hex(6) if optimizer.rank == 0 else None, root=0)
    prefix = f"rank-{optimizer.rank}-of-{optimizer.ranks}."
    name = f"{prefix}{token}.npz"
    digest, error = None, None
    try:
        shard = optimizer.shard_state_dict()
        state = shard["optimizer"]
        scalars, arrays = _split_state(state)
        _write(directory / name, {"format": FORMAT + "-shard", "version": VERSION, "rank": optimizer.rank,
                                  "ranks": optimizer.ranks, "slice": list(shard["slice"]),
                                  "optimizer": {"class": _class_name(optimizer),
                                                "param_groups": _encode(state["param_groups"]), "state": scalars,
                                                "skipped_steps": state["skipped_steps"]}}, arrays)
        digest = hashlib.sha256((directory / name).read_bytes()).hexdigest()
    except OSError as e:
        error = e
    _agree(optimizer, error, directory / name)
    files = optimizer.comm.gather((name, digest), root=0)
    error = None
    if optimizer.rank == 0:
        try:
            manifest = {"format": FORMAT, "version": VERSION, "model": model.config(),
                        "optimizer": {"class": _class_name(optimizer), "sharded": {
                            "ranks": optimizer.ranks, "slices": [list(sl) for sl in optimizer.slices],
                            "files": [list(f) for f in files]}},
                        "scheduler": None if scheduler is None else {"class": type(scheduler).__name__,
                                                                     "state": _encode(scheduler.state_dict())},
                        "training": _encode(training or {})}
            _write(directory / "checkpoint.npz", manifest, {"model/weights": model.get_weights()})
        except OSError as e:
            error = e
    _agree(optimizer, error, directory / "checkpoint.npz")
    for old in directory.glob(f"{prefix}*.npz"):  # earlier checkpoints' files of this rank
        if old.name != name:
            old.unlink(missing_ok=True)


def load_sharded_checkpoint(directory, *, model: Sequential, optimizer: ShardedOptimizer, scheduler=None) -> dict:
    """Restore what save_sharded_checkpoint wrote, on the same number of ranks; returns
    the loop's state. Checks everything first (the manifest, this rank's file and its
    digest, the slices); a CheckpointError names the file and the problem. Every rank
    calls it; all restore or none does (each raises, nothing changed)."""
    directory = Path(directory)
    try:
        plan, error = _sharded_restoration(directory, model, optimizer, scheduler), None
    except (CheckpointError, OSError, TypeError, ValueError, KeyError, IndexError) as e:
        plan = None
        error = e if isinstance(e, CheckpointError) else CheckpointError(directory, f"{type(e).__name__}: {e}")
    _agree(optimizer, error, directory)
    assert plan is not None
    meta, weights, optimizer_state = plan
    before = (model.get_weights().copy(), None if scheduler is None else scheduler.state_dict())
    optimizer.load_shard_state_dict({"rank": optimizer.rank, "ranks": optimizer.ranks,  # all or none
                                     "slice": (optimizer.start, optimizer.stop), "optimizer": optimizer_state})
    error = None
    try:
        model.set_weights(weights)
        if scheduler is not None:
            scheduler.load_state_dict(_decode(meta["scheduler"]["state"]))
    except (TypeError, ValueError, KeyError) as e:
        model.set_weights(before[0])
        if scheduler is not None:
            scheduler.load_state_dict(before[1])
        error = CheckpointError(directory, f"cannot be restored ({type(e).__name__}: {e})")
    _agree(optimizer, error, directory)
    return _decode(meta["training"])


def _sharded_restoration(directory: Path, model, optimizer, scheduler) -> tuple:
    """What load_sharded_checkpoint applies on this rank: (the manifest's meta, the
    weights, the optimizer's shard state), everything checked."""
    manifest_path = directory / "checkpoint.npz"
    meta, arrays = _read(manifest_path)
    sharded = meta["optimizer"].get("sharded") if isinstance(meta["optimizer"], dict) else None
    if not isinstance(sharded, dict):
        raise CheckpointError(manifest_path, "not a sharded checkpoint (load it with load_checkpoint)")
    if sharded["ranks"] != optimizer.ranks or [tuple(sl) for sl in sharded["slices"]] != list(optimizer.slices):
        raise CheckpointError(manifest_path, f"written by {sharded['ranks']} ranks with slices {sharded['slices']}, "
                                             f"read by {optimizer.ranks} with {[list(sl) for sl in optimizer.slices]}: "
                                             "a sharded checkpoint resumes on the same ranks only")
    if meta["optimizer"]["class"] != _class_name(optimizer):
        raise CheckpointError(manifest_path, f"it was saved for {meta['optimizer']['class']}, "
                                             f"not {_class_name(optimizer)}")
    if meta["model"] != model.config() or "model/weights" not in arrays:
        raise CheckpointError(manifest_path, "it was saved for another model")
    saved = meta["scheduler"]
    if (saved is None) != (scheduler is None) or (scheduler is not None and saved["class"] != type(scheduler).__name__):
        raise CheckpointError(manifest_path, f"its schedule ({'none' if saved is None else saved['class']}) does not "
                              f"match {type(scheduler).__name__ if scheduler is not None else 'none'}")
    name, digest = sharded["files"][optimizer.rank]
    shard_path = directory / name
    if not shard_path.is_file() or hashlib.sha256(shard_path.read_bytes()).hexdigest() != digest:
        raise CheckpointError(shard_path, "missing, or not the file the manifest lists")
    shard_meta, shard_arrays = _read(shard_path, parts=("optimizer",))
    if (shard_meta.get("format"), shard_meta.get("rank"), shard_meta.get("ranks")) != \
            (FORMAT + "-shard", optimizer.rank, optimizer.ranks):
        raise CheckpointError(shard_path, f"not rank {optimizer.rank} of {optimizer.ranks}'s file of a "
                                          "sharded checkpoint")
    optimizer_state = {"state": _join_state(shard_path, shard_meta["optimizer"]["state"], shard_arrays),
                       "param_groups": _decode(shard_meta["optimizer"]["param_groups"]),
                       "skipped_steps": shard_meta["optimizer"]["skipped_steps"]}
    return meta, arrays["model/weights"], optimizer_state


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


__all__ = ["save_checkpoint", "load_checkpoint", "save_sharded_checkpoint", "load_sharded_checkpoint",
           "CheckpointError"]
