"""One rank of tests/test_distributed.py, started by ``mpiexec -n 2``: trains
mpi_cases' model under every run with distributed.ShardedOptimizer and saves, on
rank 0, the final weights, the gathered state, each rank's state bytes and
skipped steps to ``<out>/results.npz``-style pickles."""

import pickle
import sys
from pathlib import Path

import numpy as np
from mpi4py import MPI

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mpi_cases as cases  # noqa: E402

from pyoptim import distributed  # noqa: E402


def main() -> None:
    out = Path(sys.argv[1])
    comm = MPI.COMM_WORLD
    results = {}
    for label, name, hyper, policy in cases.RUNS:
        model = cases.model()
        opt = distributed.ShardedOptimizer(name, model, comm, **hyper)
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
