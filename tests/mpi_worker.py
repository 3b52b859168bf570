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
from pyoptim import distributed  # noqa: E402


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


def main() -> None:
    out = Path(sys.argv[2])
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
