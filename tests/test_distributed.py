"""pyoptim.distributed: data-parallel training with sharded optimizer state over
MPI, 2 ranks started by a real ``mpiexec``, against the same training in one process."""

import os
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pyoptim
from pyoptim import train

pytest.importorskip("mpi4py", reason="pyoptim.distributed needs mpi4py (pip install 'pyoptim[mpi]')")
MPIEXEC = shutil.which("mpiexec")
if MPIEXEC is None:
    pytest.skip("no mpiexec on PATH (pip install mpich)", allow_module_level=True)

import mpi_cases as cases  # noqa: E402

from pyoptim import distributed  # noqa: E402

HERE = Path(__file__).resolve().parent
RANKS = 2


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("distributed")
    launch(RANKS, "rules", out)
    return pickle.loads((out / "results.pkl").read_bytes())


def launch(ranks: int, *args) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run([MPIEXEC, "-n", str(ranks), sys.executable, str(HERE / "mpi_worker.py"), *map(str, args)],
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]


def one_process(name, hyper, policy):
    model = cases.model()
    opt = train.make_optimizer(name, model, **hyper)  # per layer for a per-tensor rule, as the ranks do
    if policy:
        opt.set_gradient_policy(**policy)
    for step, (x, y) in enumerate(cases.batches()):
        model.loss_and_grad(x, y)
        if policy.get("skip_nonfinite") and step == cases.NONFINITE_STEP:
            model.flat.items()[-1][2].flat[-1] = np.nan
        opt.step()
    return model, opt


def relative_error(a, b) -> float:
    scale = np.abs(b).max()
    return float(np.abs(a - b).max() / (scale if scale else 1.0))


@pytest.mark.parametrize("label,name,hyper,policy", cases.RUNS, ids=[r[0] for r in cases.RUNS])
def test_two_ranks_train_as_one_process(results, label, name, hyper, policy):
    got = results[label]
    model, opt = one_process(name, hyper, policy)
    # The ranks' two half-batch gradients, summed, are the whole batch's up to
    # rounding (BLAS adds the rows in another order): equal to float64 rounding.
    assert relative_error(got["weights"], model.get_weights()) <= 1e-10
    assert not np.array_equal(got["weights"], cases.model().get_weights())  # it trained
    expected_state, state_got = opt.state_dict()["state"], got["state"]["state"]
    assert state_got.keys() == expected_state.keys()
    for index, expected in expected_state.items():
        state = state_got[index]
        assert state.keys() == expected.keys()
        for key, value in expected.items():
            if isinstance(value, np.ndarray):
                assert relative_error(state[key], value) <= 1e-9, key
            else:
                assert state[key] == value, key
    assert got["skipped"] == opt.skipped_steps == (1 if policy.get("skip_nonfinite") else 0)
    # Each rank keeps the state of its slice only (of whole tensors for a per-tensor rule: about half).
    whole = sum(v.nbytes for entry in expected_state.values() for v in entry.values() if isinstance(v, np.ndarray))
    assert sum(got["state_bytes"]) == whole
    per_tensor = not pyoptim.Optimizer.registry[name].update_is_elementwise()
    assert all(size <= whole * (0.75 if per_tensor else 0.5) + 64 for size in got["state_bytes"])


def test_the_gathered_state_loads_into_one_process(results):
    model, opt = one_process("Adam", {"lr": 0.01}, {})
    fresh = pyoptim.Adam(cases.model().parameters(), lr=0.01)
    fresh.load_state_dict(results["Adam"]["state"])
    for key, value in opt.state_dict()["state"][0].items():
        got = fresh.state_dict()["state"][0][key]
        assert relative_error(got, value) <= 1e-9 if isinstance(value, np.ndarray) else got == value


def test_slices_cover_the_buffer_in_order_on_cache_lines():
    for size in (0, 1, 15, 16, 17, 1000, 101_770):
        for ranks in (1, 2, 3, 8):
            parts = distributed.slices(size, ranks)
            assert parts[0][0] == 0 and parts[-1][1] == size
            assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
            assert all(a % distributed.SLICE_ALIGNMENT == 0 for a, _ in parts)
            widths = [b - a for a, b in parts]
            assert max(widths) - min(widths) <= distributed.SLICE_ALIGNMENT + (size % distributed.SLICE_ALIGNMENT)


def test_a_closure_driven_rule_is_refused():
    with pytest.raises(ValueError, match="optimizer: LBFGS cannot be sharded: its step runs a closure"):
        distributed.check_shardable(pyoptim.LBFGS)


def test_tensor_slices_hold_whole_tensors():
    starts = [0, 100, 140, 900, 1000]
    assert distributed.tensor_slices(starts, 1200, 2) == [(0, 900), (900, 1200)]  # the start nearest 600
    assert distributed.tensor_slices(starts, 1200, 3) == [(0, 140), (140, 900), (900, 1200)]  # nearest 400, 800
    # A large last tensor: every rank still gets one.
    assert distributed.tensor_slices([0, 16, 32], 1032, 2) == [(0, 32), (32, 1032)]
    assert distributed.tensor_slices([0, 16, 32], 1032, 3) == [(0, 16), (16, 32), (32, 1032)]
    assert distributed.tensor_slices([0], 50, 2) == [(0, 50), (50, 50)]  # fewer tensors than ranks: none


@pytest.fixture(scope="module")
def fits(tmp_path_factory):
    out = tmp_path_factory.mktemp("distributed_fit")
    launch(RANKS, "fit", out)
    launch(3, "fit", out, out / "after-2-epochs.ckpt")  # the 2-rank checkpoint, resumed on 3 ranks
    return out, {**pickle.loads((out / f"fit-{RANKS}.pkl").read_bytes()),
                 **pickle.loads((out / "fit-3.pkl").read_bytes())}


def one_process_fit(epochs=cases.EPOCHS, **kwargs):
    return cases.fit_run(lambda net: pyoptim.Adam(net.parameters(), lr=0.01), epochs, **kwargs)


def test_fit_on_two_ranks_trains_as_one_process(fits):
    _, runs = fits
    net, _, history = one_process_fit()
    weights, got = runs["whole"]
    assert relative_error(weights, net.get_weights()) <= 1e-10
    assert got.epoch == history.epoch and got.best_epoch == history.best_epoch
    assert got.lr == history.lr  # the schedule, edited on the local optimizers
    np.testing.assert_allclose(got.train_loss, history.train_loss, rtol=1e-10)
    np.testing.assert_allclose(got.val_loss, history.val_loss, rtol=1e-10)
    assert got.train_accuracy == history.train_accuracy


def test_a_resumed_distributed_run_ends_as_the_uninterrupted_one(fits):
    _, runs = fits
    (whole, history), (resumed, resumed_history) = runs["whole"], runs["resumed"]
    assert np.array_equal(resumed, whole)  # bit for bit, on the same ranks
    assert resumed_history.val_loss == history.val_loss
    # On another number of ranks the slices differ, the sums too: equal to rounding.
    elsewhere, elsewhere_history = runs["resumed elsewhere"]
    assert relative_error(elsewhere, whole) <= 1e-10
    assert elsewhere_history.epoch == history.epoch


def test_a_distributed_checkpoint_loads_into_one_process(fits, tmp_path):
    out, _ = fits
    one_process_fit(checkpoint=tmp_path / "one.ckpt")
    loaded = []
    for path in (out / "whole.ckpt", tmp_path / "one.ckpt"):
        net = cases.model()
        opt = pyoptim.Adam(net.parameters(), lr=0.01)
        scheduler = train.make_scheduler("cosine", opt, epochs=cases.EPOCHS)
        state = train.load_checkpoint(path, model=net, optimizer=opt, scheduler=scheduler)
        loaded.append((net.get_weights(), opt.state_dict()["state"][0], scheduler.state_dict(), state["epoch"]))
    (weights, state, schedule, epoch), (weights_1, state_1, schedule_1, epoch_1) = loaded
    assert relative_error(weights, weights_1) <= 1e-10
    assert schedule == schedule_1 and epoch == epoch_1
    for key, value in state_1.items():
        assert relative_error(state[key], value) <= 1e-9 if isinstance(value, np.ndarray) else state[key] == value


@pytest.mark.parametrize("command", [["train", "--schedule", "cosine"], ["compare", "--rules", "adam", "sgd+momentum"]])
def test_the_command_line_trains_distributed_and_only_rank_0_speaks(mnist_dir, tmp_path, command):
    common = ["--epochs", "2", "--limit-train", "1200", "--limit-test", "300", "--data-dir", str(mnist_dir),
              "--output-dir"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    pyoptim_cli = [sys.executable, "-m", "pyoptim"]
    one = subprocess.run([*pyoptim_cli, *command, *common, str(tmp_path / "one")], env=env, capture_output=True,
                         text=True, timeout=600)
    two = subprocess.run([MPIEXEC, "-n", str(RANKS), *pyoptim_cli, *command, "--distributed", *common,
                          str(tmp_path / "two")], env=env, capture_output=True, text=True, timeout=600)
    assert one.returncode == 0 and two.returncode == 0, one.stderr[-2000:] + two.stderr[-2000:]

    def figures(text):  # what the runs print, without their timings
        return [re.sub(r"[\d.]+ s\b(/epoch)?", "", line) for line in text.splitlines()
                if "epoch" in line or "test accuracy" in line]

    assert figures(two.stdout) == figures(one.stdout)  # printed once: by rank 0
    assert len(figures(one.stdout)) >= 2
    written = sorted(p.name for p in (tmp_path / "two").iterdir())
    assert written == sorted(p.name for p in (tmp_path / "one").iterdir())


def test_a_rule_that_cannot_be_sharded_is_a_usage_error(mnist_dir):
    run = subprocess.run([sys.executable, "-m", "pyoptim", "train", "--distributed", "--optimizer", "lbfgs",
                          "--data-dir", str(mnist_dir)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert "LBFGS cannot be sharded" in run.stderr


def test_a_sharded_checkpoint_resumes_bit_for_bit_on_the_same_ranks_only(tmp_path):
    launch(RANKS, "sharded", tmp_path)
    launch(3, "sharded", tmp_path)
    results = pickle.loads((tmp_path / f"sharded-{RANKS}.pkl").read_bytes())
    for name in ("Adam", "LAMB"):
        uninterrupted, resumed, loop, _ = results[name]
        assert np.array_equal(resumed, uninterrupted), name
        assert loop == {"step": 3}
    files = sorted(p.name for p in (tmp_path / "sharded" / "Adam").iterdir())
    assert len(files) == 3 and files[0] == "checkpoint.npz"
    assert files[1].startswith("rank-0-of-2.") and files[2].startswith("rank-1-of-2.")
    # No file holds the whole state: each rank's holds its slice (whole layers, for LAMB).
    whole = 2 * cases.model().flat.params.nbytes
    for name, rank, share in (("Adam", 0, 0.5), ("LAMB", 0, 0.75), ("LAMB", 1, 0.75)):  # (Adam's rank 1: damaged below)
        path, = (tmp_path / "sharded" / name).glob(f"rank-{rank}-of-2.*.npz")
        with np.load(path) as shard:
            assert sum(shard[k].nbytes for k in shard.files if k.startswith("optimizer/")) <= whole * share + 128
    message, unchanged = results["damaged"]  # rank 0's view: its own file was fine
    assert "another rank cannot go on (rank 1:" in message and "rank-1-of-2." in message and unchanged
    refused = pickle.loads((tmp_path / "sharded-3.pkl").read_bytes())["refused"]
    assert "written by 2 ranks" in refused and "read by 3" in refused


def test_what_one_rank_cannot_do_every_rank_refuses_together(tmp_path):
    launch(RANKS, "refusals", tmp_path)  # a rank left waiting in a collective would time the launch out
    outcomes = [pickle.loads((tmp_path / f"refusals-{r}.pkl").read_bytes()) for r in range(RANKS)]
    for case in ("a bad share on one rank", "shares that do not add up", "Muon over a model with biases",
                 "more ranks than tensors", "a bad entry in a per-tensor state_dict"):
        kinds = {o[case][0] for o in outcomes}
        assert kinds <= {"ValueError", "TypeError"} and "ok" not in kinds, (case, [o[case] for o in outcomes])
    assert "rank 1 gave -1.0" in outcomes[0]["a bad share on one rank"][1]
    assert "must add up to 1" in outcomes[0]["shares that do not add up"][1]
    assert "Muon cannot step every tensor" in outcomes[0]["Muon over a model with biases"][1]
    assert "2 ranks for a model of 1 tensors" in outcomes[0]["more ranks than tensors"][1]
    assert all(o["weights unchanged"] and o["per-tensor state unchanged"] for o in outcomes)
    # The short last batch (1 row for 2 ranks) trains on, as one process does.
    (weights, losses), (weights_1, losses_1) = (o["short last batch"][1] for o in outcomes)
    assert np.array_equal(weights, weights_1)
    data, _ = cases.fit_data()
    data = train.Split(np.concatenate([data.x, data.x[:1]]), np.concatenate([data.y, data.y[:1]]))
    net = cases.model()
    history = train.fit(net, pyoptim.Adam(net.parameters(), lr=0.01), data, epochs=2, batch_size=16, seed=5)
    assert relative_error(weights, net.get_weights()) <= 1e-10
    np.testing.assert_allclose(losses, history.train_loss, rtol=1e-10)
