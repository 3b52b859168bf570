"""SparseAdam on an embedding table of 1M rows x 64 (float32) with 1% of the rows
touched per step (indices drawn with repeats, as a batch of lookups gives them):
pyoptim's NumPy API (step(rows=...)), pyoptim.torch and torch.optim.SparseAdam, from
alternating blocks. Every contender coalesces the repeats itself, inside its step."""

import numpy as np
import pytest

import pyoptim
from timing import block_medians

torch = pytest.importorskip("torch")
import pyoptim.torch as pt  # noqa: E402

ROWS, WIDTH, TOUCHED = 1 << 20, 64, (1 << 20) // 100
BATCHES = 8  # distinct batches, cycled
BLOCKS = 7  # alternating blocks of 10 steps per contender


@pytest.mark.parametrize("threads", [1, 2])
def test_sparse_adam_embedding(benchmark, threads):
    rng = np.random.default_rng(0)
    init = rng.standard_normal((ROWS, WIDTH), dtype=np.float32)
    lookups = [(rng.integers(0, ROWS, TOUCHED), rng.standard_normal((TOUCHED, WIDTH), dtype=np.float32))
               for _ in range(BATCHES)]
    sparse = [torch.sparse_coo_tensor(torch.from_numpy(i)[None], torch.from_numpy(v), (ROWS, WIDTH))
              for i, v in lookups]

    table = init.copy()
    # The dense gradient slot is never read: every step gives its rows.
    ours = pyoptim.SparseAdam([(table, np.zeros_like(table))], lr=1e-3)
    counter = {"pyoptim": 0, "pyoptim.torch": 0, "torch": 0}

    def numpy_api():
        k = counter["pyoptim"] = (counter["pyoptim"] + 1) % BATCHES
        ours.step(rows=[lookups[k]])

    def torch_step(opt, param, name):
        def prepare():
            counter[name] = (counter[name] + 1) % BATCHES
            param.grad = sparse[counter[name]]
        return opt.step, prepare

    p_ours, p_torch = torch.tensor(init), torch.tensor(init)
    p_ours.requires_grad_()
    p_torch.requires_grad_()
    ours_torch, prepare_ours = torch_step(pt.SparseAdam([p_ours], lr=1e-3), p_ours, "pyoptim.torch")
    theirs, prepare_theirs = torch_step(torch.optim.SparseAdam([p_torch], lr=1e-3), p_torch, "torch")
    steps = {"pyoptim": numpy_api, "pyoptim.torch": ours_torch, "torch": theirs}
    prepare = {"pyoptim.torch": prepare_ours, "torch": prepare_theirs}

    pyoptim.set_num_threads(threads)
    torch.set_num_threads(threads)
    for name, step in steps.items():  # warm up: first touch of the state
        if name in prepare:
            prepare[name]()
        step()
    blocks = block_medians(steps, BLOCKS, 10, prepare)
    seconds = {name: float(np.median(t)) for name, t in blocks.items()}
    vs_torch = {name: float(np.median(np.array(blocks["torch"]) / np.array(t))) for name, t in blocks.items()}
    benchmark.group = f"sparse adam {threads}t"
    benchmark.extra_info.update(kind="sparse", rows=ROWS, width=WIDTH, touched=TOUCHED, threads=threads,
                                blocks=BLOCKS, seconds=seconds, vs_torch=vs_torch)
    benchmark.pedantic(numpy_api, rounds=5, iterations=1)
