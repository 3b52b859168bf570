"""Data-parallel training over MPI with sharded optimizer state (ZeRO stage 1).

Every rank holds the whole model and computes the gradient of its share of each
global batch into the model's flat gradient buffer; :class:`ShardedOptimizer`
then

1. sums the ranks' gradients with one reduce-scatter over the flat buffer, so that
   each rank receives the summed gradient of its own contiguous slice of the
   parameters only (a rank's gradient is first weighted by its share of the
   global batch, so the sum is the gradient of the global batch's mean loss);
2. steps that slice with an ordinary pyoptim optimizer, which keeps state for
   the slice only (1/N of the state memory per rank, :meth:`state_bytes`);
3. all-gathers the stepped slices, so that every rank holds the new parameters.

That moves the bytes of one all-reduce (a reduce-scatter and an all-gather are
its two halves) and runs the kernel over 1/N of the parameters per rank. The
gradient policy works across ranks: the global norm of clipping by norm is the
sum of every rank's slice (added in rank order, the same bits on every rank),
and a step that skips for a non-finite gradient is skipped on every rank.

MPI comes from mpi4py (``pip install "pyoptim[mpi]"``, which also installs an MPI
wheel and its ``mpiexec``); importing pyoptim never requires it::

    mpiexec -n 2 python train.py

    # train.py
    from mpi4py import MPI
    import pyoptim
    from pyoptim import distributed, nn
    model = nn.mlp(784, (128,), 10, seed=0)          # the same weights on every rank
    opt = distributed.ShardedOptimizer(pyoptim.Adam, model, MPI.COMM_WORLD, lr=1e-3)
    for xb, yb in batches:                           # the same global batches on every rank
        x, y, share = distributed.local_batch(xb, yb, MPI.COMM_WORLD)
        model.loss_and_grad(x, y)
        opt.step(share)

A rule whose update of an element reads that element alone is split at any
cache line of the flat buffer; a rule whose update reads a whole tensor (LAMB's
and LARS's per-tensor norms, Adafactor's factored moments) steps each of the
model's layers as a tensor of its own, as ``train.make_optimizer`` gives it a
model in one process, and the ranks split the model between layers (whole
tensors a rank, at least one each, as even as the layers allow). Muon steps a
model only if every tensor is a matrix (biases would need a second rule), and
LBFGS is refused: its line search evaluates the whole model at every trial. Every
rank refuses alike, before any collective.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from . import _checks, _core
from .flat import FlatParameters
from .memory import zeros_aligned
from .optim import Optimizer

#: Slices start on multiples of this many elements: each on a cache line, as the flat buffer does.
SLICE_ALIGNMENT = 16


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as error:  # pragma: no cover - depends on the machine
        raise ImportError("pyoptim.distributed needs mpi4py: pip install \"pyoptim[mpi]\"") from error
    return MPI


def _flat_of(model) -> FlatParameters:
    flat = getattr(model, "flat", model)
    if not isinstance(flat, FlatParameters):
        raise _checks.InvalidType("model", "expected a pyoptim.nn model or a pyoptim.FlatParameters, "
                                           f"got {type(model).__name__}")
    return flat


def slices(size: int, ranks: int) -> list:
    """The [start, stop) of each rank's slice of a flat buffer of `size` elements:
    contiguous, in rank order, starts on multiples of SLICE_ALIGNMENT, as even as that allows."""
    units = -(-size // SLICE_ALIGNMENT)
    bounds = [min(size, (units * r // ranks) * SLICE_ALIGNMENT) for r in range(ranks)] + [size]
    return [(bounds[r], bounds[r + 1]) for r in range(ranks)]


def tensor_slices(starts: list, size: int, ranks: int) -> list:
    """Like slices, but each slice made of whole tensors (a tensor from each of `starts`,
    in order, to the next, the last to `size`): rank r's slice begins at the tensor start
    nearest r/N of the buffer among those that leave every rank at least one tensor.
    With fewer tensors than ranks the last ranks get none."""
    count = len(starts)
    bounds, previous = [0], 0
    for r in range(1, ranks):
        first, last = previous + 1, count - (ranks - r)  # tensor indices rank r may begin at
        if first > last:
            bounds.append(size)
            previous = count
            continue
        target = size * r / ranks
        previous = min(range(first, last + 1), key=lambda k: abs(starts[k] - target))
        bounds.append(starts[previous])
    bounds.append(size)
    return [(bounds[r], bounds[r + 1]) for r in range(ranks)]


def check_shardable(cls: type[Optimizer]) -> None:
    """ValueError unless the rule's step can be split among ranks: any element-wise rule
    (by slices of the flat buffer), a per-tensor one (by whole tensors), not a
    closure-driven one (LBFGS: its line search reads the whole model at every trial)."""
    if cls.closure_driven:
        raise _checks.InvalidValue("optimizer", f"{cls.__name__} cannot be sharded: its step runs a closure "
                                                "over the whole model (a line search)")


class ShardedOptimizer:
    """`optimizer` (a pyoptim optimizer class) over this rank's slice
    of `model`'s flat parameters, the slices of all ranks of `comm` together
    stepping the whole model (see the module's documentation). `hyper` are the
    optimizer's hyperparameters. Collective: every rank of `comm` constructs it
    and calls each step, in the same order."""

    def __init__(self, optimizer: type[Optimizer], model, comm=None, **hyper):
        MPI = _mpi()
        if not (isinstance(optimizer, type) and issubclass(optimizer, Optimizer) and hasattr(optimizer, "rule")):
            raise _checks.InvalidType("optimizer", f"expected a pyoptim optimizer class (pyoptim.Adam, ...), "
                                                   f"got {optimizer!r}")
        cls = optimizer
        check_shardable(cls)
        self.comm = MPI.COMM_WORLD if comm is None else comm
        if not isinstance(self.comm, MPI.Comm):
            raise _checks.InvalidType("comm", f"expected an mpi4py communicator, got {type(self.comm).__name__}")
        self.flat = _flat_of(model)
        self.rank, self.ranks = self.comm.Get_rank(), self.comm.Get_size()
        size = self.flat.params.size
        # An element-wise rule steps any slice; a per-tensor one (LAMB, Adafactor, ...)
        # steps whole tensors: each layer's arrays, as train.make_optimizer gives it a model.
        self.per_tensor = not cls.update_is_elementwise()
        layers = [(p, self._offset(p), g) for _, p, g in self.flat.items()]
        if self.per_tensor:
            self.slices = tensor_slices([offset for _, offset, _ in layers], size, self.ranks)
        else:
            self.slices = slices(size, self.ranks)
        self.start, self.stop = self.slices[self.rank]
        self._counts = [b - a for a, b in self.slices]
        self._displacements = [a for a, _ in self.slices]
        self._mpi_type = MPI.FLOAT if self.flat.dtype == np.float32 else MPI.DOUBLE
        self._sum = MPI.SUM
        self._in_place = MPI.IN_PLACE
        # This rank's slice of the summed gradient (the reduce-scatter cannot write into
        # the buffer it reads).
        self.grad = zeros_aligned(self.stop - self.start, self.flat.dtype)
        if self.per_tensor:
            # Every rank checks every tensor and every slice alike, so all refuse together.
            for (name, _, _), (p, _, _) in zip(self.flat.items(), layers):
                try:
                    cls.check_param_shape(tuple(p.shape), f"the model's {name!r}")
                except ValueError as error:
                    raise _checks.InvalidValue("optimizer", f"{cls.__name__} cannot step every tensor of the "
                                                            f"model ({error})") from None
            if any(a == b for a, b in self.slices):
                raise _checks.InvalidValue("comm", f"{self.ranks} ranks for a model of {len(layers)} tensors: "
                                                   f"{cls.__name__} steps whole tensors, at least one a rank")
            # Indices (in model.flat.items() order) of the tensors this rank steps.
            self.tensors = [k for k, (_, offset, _) in enumerate(layers) if self.start <= offset < self.stop]
            self.n_tensors = len(layers)
            pairs = [(p, self.grad[offset - self.start:offset - self.start + p.size].reshape(p.shape))
                     for k, (p, offset, _) in enumerate(layers) if k in self.tensors]
        else:
            pairs = [(self.flat.params[self.start:self.stop], self.grad)]
        self.optimizer = cls(pairs, **hyper)
        self.optimizer._policy.across = self._sum_across_ranks

    def _offset(self, view: np.ndarray) -> int:
        return (view.__array_interface__["data"][0] - self.flat.params.__array_interface__["data"][0]) \
            // self.flat.dtype.itemsize

    # ---- what it steps -------------------------------------------------------

    @property
    def param_groups(self) -> list:
        """The local optimizer's groups: a hyperparameter edited here (by a schedule)
        takes effect at the next step; edit it alike on every rank."""
        return self.optimizer.param_groups

    @property
    def skipped_steps(self) -> int:
        return self.optimizer.skipped_steps

    @property
    def last_grad_norm(self) -> float | None:
        return self.optimizer.last_grad_norm

    def set_gradient_policy(self, **policy) -> None:
        """As :meth:`pyoptim.Optimizer.set_gradient_policy`, over the whole model's
        gradient; set it alike on every rank (a norm is reduced across them)."""
        self.optimizer.set_gradient_policy(**policy)

    def zero_grad(self) -> None:
        self.flat.zero_grad()

    def step(self, share: float | None = None) -> None:
        """Sum the ranks' gradients, each weighted by `share` (this rank's fraction of
        the global batch; default 1/N, for equal shares), step this rank's slice and
        gather every rank's. Collective. When the shares differ, each rank's gradient
        buffer is scaled by its share in place (else it is left as it is)."""
        if share is None:  # equal shares: nothing to agree on (pass a share on every rank or on none)
            weight, equal = 1.0 / self.ranks, True
        else:
            # Every rank checks every rank's share: all refuse together, before the reduction.
            shares = self.comm.allgather(share)
            weights = []
            for r, given in enumerate(shares):
                try:
                    weights.append(_checks.real("share", given, min=0.0, max=1.0))
                except (TypeError, ValueError) as error:
                    refused = _checks.InvalidType if isinstance(error, TypeError) else _checks.InvalidValue
                    raise refused("share", f"rank {r} gave {given!r}: expected a number in [0, 1]") from None
            if not 0.999999 <= sum(weights) <= 1.000001:
                raise _checks.InvalidValue("share", f"the ranks' shares must add up to 1, got {sum(weights)!r}")
            weight = weights[self.rank]
            equal = all(w == weights[0] for w in weights)
        grads = self.flat.grads
        if not equal:  # weighted before the sum, in place
            grads *= weight
        self.comm.Reduce_scatter([grads, self._mpi_type], [self.grad, self._mpi_type], self._counts, op=self._sum)
        # The same weight for all: applied to the summed slice inside the update pass.
        self.optimizer._policy.set_weight(weight if equal else 1.0)
        self.optimizer.step()
        self._gather_params()

    def _gather_params(self) -> None:
        self.comm.Allgatherv(self._in_place, [self.flat.params, self._counts, self._displacements, self._mpi_type])

    def _sum_across_ranks(self, total: float, finite: bool) -> tuple:
        """The whole model's (sum of squares, all finite?) from this rank's slice's:
        gathered, then added in rank order (the same bits on every rank)."""
        parts = self.comm.allgather((total, finite))
        out = 0.0
        for part, _ in parts:
            out += part
        return out, all(f for _, f in parts)

    # ---- Schedule-Free's two points --------------------------------------------

    def train(self) -> None:
        """Schedule-Free: move the parameters to the training point (collective)."""
        self._switch("train")

    def eval(self) -> None:
        """Schedule-Free: move the parameters to the evaluation point (collective)."""
        self._switch("eval")

    def _switch(self, mode: str) -> None:
        if self.optimizer.mode_state is None:
            raise AttributeError(f"{type(self.optimizer).__name__} has no train/eval modes")
        getattr(self.optimizer, mode)()
        self._gather_params()

    # ---- state -------------------------------------------------------------------

    def state_bytes(self) -> int:
        """Bytes of optimizer state this rank keeps (its slice's arrays)."""
        return sum(v.nbytes for entry in self.optimizer.state.values() for v in entry.values()
                   if isinstance(v, np.ndarray))

    def shard_state_dict(self) -> dict:
        """This rank's state (its slice's), with where the slice lies."""
        return {"rank": self.rank, "ranks": self.ranks, "slice": (self.start, self.stop),
                "optimizer": self.optimizer.state_dict()}

    def load_shard_state_dict(self, state_dict: dict) -> None:
        """Restore a shard_state_dict() this rank saved with the same number of ranks
        (every rank its own; all load or none does)."""
        self._agreed(lambda: self._load_shard(state_dict))

    def _load_shard(self, state_dict: dict) -> None:
        if not isinstance(state_dict, dict) or not {"rank", "ranks", "slice", "optimizer"} <= set(state_dict):
            raise _checks.InvalidValue("state_dict", "expected a ShardedOptimizer.shard_state_dict()")
        if (state_dict["rank"], state_dict["ranks"], tuple(state_dict["slice"])) != \
                (self.rank, self.ranks, (self.start, self.stop)):
            raise _checks.InvalidValue("state_dict", f"saved by rank {state_dict['rank']} of {state_dict['ranks']} "
                                                     f"(slice {tuple(state_dict['slice'])}), loaded by rank "
                                                     f"{self.rank} of {self.ranks} (slice {(self.start, self.stop)})")
        self.optimizer.load_state_dict(state_dict["optimizer"])

    def state_dict(self) -> dict:
        """The whole model's state, on every rank: the state_dict of the same optimizer
        over the model in one process as train.make_optimizer builds it (its flat buffer;
        its layers for a per-tensor rule), which loads there, or into any number of ranks
        with load_state_dict. Collective; for a while it holds the whole state."""
        whole = self._gathered(root=None)
        assert whole is not None  # every rank receives
        return whole

    def gathered_state_dict(self, root: int = 0) -> dict | None:
        """state_dict() on rank `root` only (None on the others), which alone holds the
        whole state for a while. Collective."""
        return self._gathered(root)

    def _gathered(self, root: int | None) -> dict | None:
        mine = self.optimizer.state_dict()
        if self.per_tensor:  # whole tensors a rank: their entries, renumbered in the model's order
            parts = self.comm.allgather((self.tensors, mine["state"])) if root is None else \
                self.comm.gather((self.tensors, mine["state"]), root=root)
            if parts is None:
                return None
            state = {global_index: entries[local] for tensors, entries in parts
                     for local, global_index in enumerate(tensors)}
            groups = [{**mine["param_groups"][0], "params": list(range(self.n_tensors))}]
            return {**mine, "state": dict(sorted(state.items())), "param_groups": groups}
        entry = mine["state"][0]
        # In kernel order, the same on every rank (a dict's order may not be).
        arrays = [k for k in _core.RULES[self.optimizer.rule]["state"] if isinstance(entry.get(k), np.ndarray)]
        gathered: dict[str, Any] = {}
        receives = root is None or self.rank == root
        for name in arrays:
            full = np.empty(self.flat.params.size, self.flat.dtype) if receives else None
            send = np.ascontiguousarray(entry[name])
            whole = [full, self._counts, self._displacements, self._mpi_type] if receives else None
            if root is None:
                self.comm.Allgatherv([send, self._mpi_type], whole)
            else:
                self.comm.Gatherv([send, self._mpi_type], whole, root=root)
            gathered[name] = full
        if not receives:
            return None
        return {**mine, "state": {0: {k: gathered.get(k, v) for k, v in entry.items()}}}

    def load_state_dict(self, state_dict: dict) -> None:
        """Take this rank's slice of a whole-model state_dict (state_dict(), or a
        one-process optimizer's over the model as train.make_optimizer builds it: its flat
        buffer, or its layers for a per-tensor rule); every rank passes it. All ranks
        load it or none does (each raises the first rank's error; nothing changes)."""
        self._agreed(lambda: self._load_whole(state_dict))

    def agree(self, error: BaseException | None, refusal) -> None:
        """Every rank learns whether a step went well on all (collective): this rank's
        `error` is raised here; else the first other rank's, as ``refusal(rank, kind,
        message)`` (kind: the error's class name). None is left waiting in a collective."""
        told = self.comm.allgather(None if error is None else (type(error).__name__, str(error)))
        if error is not None:
            raise error
        failed = next(((r, *m) for r, m in enumerate(told) if m is not None), None)
        if failed is not None:
            raise refusal(*failed)

    def _agreed(self, load) -> None:
        """Run `load` on every rank; if it failed on any, undo it on all and raise there too."""
        before = self.optimizer.state_dict()
        try:
            load()
            error = None
        except (TypeError, ValueError, KeyError) as e:
            error = e
        try:
            self.agree(error, lambda r, kind, message: (TypeError if kind == "TypeError" else ValueError)(
                f"state_dict: rank {r} refused it: {message}"))
        except (TypeError, ValueError):
            if error is None:
                self.optimizer.load_state_dict(before)
            raise

    def _load_whole(self, state_dict: dict) -> None:
        if self.per_tensor:
            try:
                entries = [state_dict["state"][k] for k in self.tensors]
                groups = state_dict["param_groups"]
            except (TypeError, KeyError, IndexError):
                raise _checks.InvalidValue("state_dict", f"expected the state_dict of an optimizer over the "
                                                         f"model's {self.n_tensors} tensors") from None
            if len(state_dict["state"]) != self.n_tensors:
                raise _checks.InvalidValue("state_dict", f"expected state for the model's {self.n_tensors} tensors, "
                                                         f"got {len(state_dict['state'])}")
            self.optimizer.load_state_dict({**state_dict, "state": dict(enumerate(entries)),
                                            "param_groups": [{**groups[0], "params": list(range(len(entries)))}]})
            return
        try:
            entry = state_dict["state"][0]
        except (TypeError, KeyError, IndexError):
            raise _checks.InvalidValue("state_dict", "expected the state_dict of an optimizer over one flat "
                                                     "buffer (state index 0)") from None
        size = self.flat.params.size
        for name, value in entry.items():
            if isinstance(value, np.ndarray) and value.shape != (size,):
                raise _checks.InvalidValue("state_dict", f"state {name!r}: expected shape ({size},), got {value.shape}")
        local = {k: (v[self.start:self.stop].copy() if isinstance(v, np.ndarray) else v) for k, v in entry.items()}
        self.optimizer.load_state_dict({**state_dict, "state": {0: local}})

    # ---- what the training loop asks ----------------------------------------

    @property
    def rule_class(self) -> type[Optimizer]:
        """The rule's class (a checkpoint names it: it holds the whole model's state)."""
        return type(self.optimizer)

    @property
    def mode_state(self) -> str | None:
        return self.optimizer.mode_state

    closure_driven = False

    def batch_totals(self, loss: float, hits: int | None, rows: int) -> tuple:
        """The global batch's mean loss and correct predictions (None if not counted)
        from this rank's share's (mean loss over `rows` rows): summed in rank order, the
        same on every rank. Collective."""
        parts = self.comm.allgather((loss * rows if rows else 0.0, hits, rows))
        total, count = 0.0, 0
        for weighted, _, n in parts:
            total, count = total + weighted, count + n
        counted = [h for h, n in ((h, n) for _, h, n in parts) if n]  # a rank with no rows counts nothing
        correct = None if any(h is None for h in counted) else sum(counted)
        return (total / count if count else 0.0), correct


def local_optimizer(optimizer):
    """What a schedule edits: a ShardedOptimizer's optimizer over this rank's slice, else `optimizer`."""
    return optimizer.optimizer if isinstance(optimizer, ShardedOptimizer) else optimizer


def rank() -> int:
    """This process's rank in MPI's world (0 without mpi4py or outside mpiexec's launch)."""
    try:
        from mpi4py import MPI
    except ImportError:
        return 0
    return MPI.COMM_WORLD.Get_rank()


def local_batch(x, y, comm=None) -> tuple:
    """This rank's share of a global batch (x, y): a contiguous run of rows, in rank
    order, and the fraction of the batch it is (for ShardedOptimizer.step)."""
    MPI = _mpi()
    comm = MPI.COMM_WORLD if comm is None else comm
    rank, ranks = comm.Get_rank(), comm.Get_size()
    n = len(x)
    if not isinstance(n, numbers.Integral) or len(y) != n:
        raise _checks.InvalidValue("y", f"expected as many rows as x ({n}), got {len(y)}")
    start, stop = n * rank // ranks, n * (rank + 1) // ranks
    return x[start:stop], y[start:stop], (stop - start) / n if n else 0.0


def broadcast_parameters(model, comm=None, root: int = 0) -> None:
    """Give every rank rank `root`'s parameters (collective)."""
    MPI = _mpi()
    comm = MPI.COMM_WORLD if comm is None else comm
    comm.Bcast(_flat_of(model).params, root=root)
