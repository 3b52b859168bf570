"""One rank of tests/test_distributed.py, started by ``mpiexec -n N``.

``mpi_worker.py rules OUT``: trains mpi_cases' model under every run with
distributed.ShardedOptimizer; rank 0 saves the final weights, the gathered state,
each rank's state bytes and skipped steps to OUT/results.pkl.
``mpi_worker.py fit OUT [CHECKPOINT]``: whole fit() runs (see fit_runs), to OUT/fit-N.pkl.
"""

import pickle
import shutil
import sys
from pathlib import Path

import numpy as np
from mpi4py import MPI

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mpi_cases as cases  # noqa: E402

import pyoptim  # noqa: E402
from pyoptim import distributed, train  # noqa: E402


def fit_runs(out: Path, resume_from: str | None) -> None:
    """Whole runs of fit(): uninterrupted, with a checkpoint every epoch; stopped after 2
    epochs and resumed; or (resume_from) resumed from another run's checkpoint."""
    comm = MPI.COMM_WORLD

    def sharded(net):
        return distributed.ShardedOptimizer(pyoptim.Adam, net, comm, lr=0.01)

    results = {}
    if resume_from is None:
        whole = out / "whole.ckpt"
        net, _, history = cases.fit_run(sharded, cases.EPOCHS, checkpoint=whole)
        results["whole"] = (net.get_weights(), history)
        halves = out / "halves.ckpt"
        cases.fit_run(sharded, 2, checkpoint=halves)
        if comm.rank == 0:
            shutil.copy(halves, out / "after-2-epochs.ckpt")
        comm.Barrier()
        net, _, history = cases.fit_run(sharded, cases.EPOCHS, checkpoint=halves, resume=True)
        results["resumed"] = (net.get_weights(), history)
    else:
        mine = out / f"resumed-on-{comm.size}.ckpt"
        if comm.rank == 0:
            shutil.copy(resume_from, mine)
        comm.Barrier()
        net, _, history = cases.fit_run(sharded, cases.EPOCHS, checkpoint=mine, resume=True)
        results["resumed elsewhere"] = (net.get_weights(), history)
    if comm.rank == 0:
        (out / f"fit-{comm.size}.pkl").write_bytes(pickle.dumps(results))


def sharded_checkpoints(out: Path) -> None:
    """3 steps, a sharded checkpoint, 3 more; and a fresh model and optimizer that load
    it and take the same 3 steps. On another number of ranks: the refusal's message."""
    comm = MPI.COMM_WORLD
    directory = out / "sharded"
    batches = cases.batches()

    def steps(model, opt, some):
        for x, y in some:
            xs, ys, share = distributed.local_batch(x, y, comm)
            model.loss_and_grad(xs, ys)
            opt.step(share)

    results = {}
    if comm.size == 2:
        for name in ("Adam", "LAMB"):
            model = cases.model()
            opt = distributed.ShardedOptimizer(pyoptim.Optimizer.registry[name], model, comm, lr=0.01)
            steps(model, opt, batches[:3])
            train.save_sharded_checkpoint(directory / name, model=model, optimizer=opt, training={"step": 3})
            steps(model, opt, batches[3:])
            fresh = cases.model()
            fresh_opt = distributed.ShardedOptimizer(pyoptim.Optimizer.registry[name], fresh, comm, lr=0.01)
            loop = train.load_sharded_checkpoint(directory / name, model=fresh, optimizer=fresh_opt)
            steps(fresh, fresh_opt, batches[3:])
            results[name] = (model.get_weights(), fresh.get_weights(), loop, opt.state_bytes())
        # One rank's file damaged: every rank refuses, nothing changes.
        comm.Barrier()
        if comm.rank == 1:
            shard, = (directory / "Adam").glob("rank-1-of-2.*.npz")
            shard.write_bytes(shard.read_bytes()[:-10] + b"0123456789")
        comm.Barrier()
        model = cases.model()
        opt = distributed.ShardedOptimizer(pyoptim.Adam, model, comm, lr=0.01)
        before = model.get_weights().copy(), opt.shard_state_dict()
        try:
            train.load_sharded_checkpoint(directory / "Adam", model=model, optimizer=opt)
        except train.CheckpointError as error:
            after = opt.shard_state_dict()["optimizer"]["state"][0]
            unchanged = np.array_equal(model.get_weights(), before[0]) and all(
                np.array_equal(v, before[1]["optimizer"]["state"][0][k]) for k, v in after.items())
            results["damaged"] = (str(error), unchanged)
    else:
        model = cases.model()
        opt = distributed.ShardedOptimizer(pyoptim.Adam, model, comm, lr=0.01)
        try:
            train.load_sharded_checkpoint(directory / "Adam", model=model, optimizer=opt)
        except train.CheckpointError as error:
            results["refused"] = str(error)
    if comm.rank == 0:
        (out / f"sharded-{comm.size}.pkl").write_bytes(pickle.dumps(results))


def refusals(out: Path) -> None:
    """What every rank must refuse (or get through) together, none left waiting: the
    outcome on this rank of each case, saved by every rank."""
    comm = MPI.COMM_WORLD
    outcomes = {}

    def attempt(case, f):
        try:
            outcomes[case] = ("ok", f())
        except (TypeError, ValueError) as error:
            outcomes[case] = ("TypeError" if isinstance(error, TypeError) else "ValueError", str(error))

    def fit_short_last_batch():  # 97 rows in batches of 16: the last one has 1 row, one rank none
        data, validation = cases.fit_data()
        data = train.Split(np.concatenate([data.x, data.x[:1]]), np.concatenate([data.y, data.y[:1]]))
        net = cases.model()
        history = train.fit(net, distributed.ShardedOptimizer(pyoptim.Adam, net, comm, lr=0.01), data, epochs=2,
                            batch_size=16, seed=5)
        return net.get_weights(), history.train_loss

    attempt("short last batch", fit_short_last_batch)
    model = cases.model()
    opt = distributed.ShardedOptimizer(pyoptim.Adam, model, comm, lr=0.01)
    x, y = cases.batches()[0]
    xs, ys, share = distributed.local_batch(x, y, comm)
    model.loss_and_grad(xs, ys)
    weights = model.get_weights().copy()
    attempt("a bad share on one rank", lambda: opt.step(-1.0 if comm.rank == 1 else share))
    attempt("shares that do not add up", lambda: opt.step(0.25))
    outcomes["weights unchanged"] = np.array_equal(model.get_weights(), weights)
    attempt("Muon over a model with biases",
            lambda: distributed.ShardedOptimizer(pyoptim.Muon, cases.model(), comm) and None)
    attempt("more ranks than tensors", lambda: distributed.ShardedOptimizer(
        pyoptim.LAMB, pyoptim.FlatParameters({"w": (5, 3)}, dtype=np.float64), comm) and None)
    lamb_model = cases.model()
    lamb = distributed.ShardedOptimizer(pyoptim.LAMB, lamb_model, comm, lr=0.01)
    whole = lamb.state_dict()
    bad = {**whole, "state": {**whole["state"], 3: {**whole["state"][3], "exp_avg": np.zeros(7)}}}
    before = lamb.shard_state_dict()
    attempt("a bad entry in a per-tensor state_dict", lambda: lamb.load_state_dict(bad))
    after = lamb.shard_state_dict()
    outcomes["per-tensor state unchanged"] = all(
        np.array_equal(v, before["optimizer"]["state"][i][k]) if isinstance(v, np.ndarray) else v == before[
            "optimizer"]["state"][i][k] for i, entry in after["optimizer"]["state"].items() for k, v in entry.items())
    (out / f"refusals-{comm.rank}.pkl").write_bytes(pickle.dumps(outcomes))


def main() -> None:
    out = Path(sys.argv[2])
    if sys.argv[1] == "refusals":
        refusals(out)
        return
    if sys.argv[1] == "sharded":
        sharded_checkpoints(out)
        return
    if sys.argv[1] == "fit":
        fit_runs(out, sys.argv[3] if len(sys.argv) > 3 else None)
        return
    comm = MPI.COMM_WORLD
    results = {}
    for label, name, hyper, policy in cases.RUNS:
        model = cases.model()
        opt = distributed.ShardedOptimizer(pyoptim.Optimizer.registry[name], model, comm, **hyper)
        if policy:
            opt.set_gradient_policy(**policy)
        for step, (x, y) in enumerate(cases.batches()):
            xs, ys, share = distributed.local_batch(x, y, comm)
            model.loss_and_grad(xs, ys)
            if policy.get("skip_nonfinite") and step == cases.NONFINITE_STEP and comm.rank == comm.size - 1:
                model.flat.items()[-1][2].flat[-1] = np.nan
            opt.step(share)
        state = opt.gathered_state_dict()
        sizes = comm.gather(opt.state_bytes())
        if comm.rank == 0:
            results[label] = {"weights": model.get_weights(), "state": state, "state_bytes": sizes,
                              "skipped": opt.skipped_steps, "slices": opt.slices}
    if comm.rank == 0:
        (out / "results.pkl").write_bytes(pickle.dumps(results))


if __name__ == "__main__":
    main()
