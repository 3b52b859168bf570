"""Row-sparse steps (SparseAdam on embedding tables): only the touched rows are read
and written, repeats are summed, bad rows change nothing; the same as
torch.optim.SparseAdam through both APIs."""

import numpy as np
import pytest

import pyoptim
from pyoptim import _core


def table(rows=300, width=8, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal((rows, width)).astype(dtype)


def batches(rows, width, steps, dtype=np.float64, seed=1, repeats=True):
    rng = np.random.default_rng(seed)
    for t in range(steps):
        n = 0 if t == 3 else int(rng.integers(1, 40))  # step 3: an empty gradient
        idx = rng.integers(0, rows, n) if repeats else rng.choice(rows, n, replace=False)
        yield idx, rng.standard_normal((n, width)).astype(dtype)


def test_only_the_touched_rows_change():
    param = table()
    opt = pyoptim.SparseAdam([(param, np.zeros_like(param))], lr=0.1)
    before = param.copy()
    opt.step(rows=[(np.array([5, 7, 5]), np.ones((3, 8)))])
    changed = np.flatnonzero(np.any(param != before, axis=1))
    np.testing.assert_array_equal(changed, [5, 7])
    assert not opt.state[0]["exp_avg"][np.setdiff1d(np.arange(300), [5, 7])].any()
    np.testing.assert_array_equal(opt.state[0]["exp_avg"][5], 2.0 * (1 - 0.9))  # the repeat was summed first


def test_the_rows_step_equals_the_dense_step_over_every_row():
    dense, rows = table(), table()
    grad = np.random.default_rng(5).standard_normal(dense.shape)
    a = pyoptim.SparseAdam([(dense, grad)], lr=0.01)
    b = pyoptim.SparseAdam([(rows, np.zeros_like(rows))], lr=0.01)
    for _ in range(3):
        a.step()
        b.step(rows=[(np.arange(300), grad.copy())])
    np.testing.assert_array_equal(dense, rows)


def test_thread_count_changes_no_bit():
    results = []
    for n in (1, 2):
        param = table(rows=6000, width=64, dtype=np.float32)
        opt = pyoptim.SparseAdam([(param, np.zeros_like(param))], lr=0.01)
        with pyoptim.num_threads(n):
            for idx, values in batches(6000, 64, 4, dtype=np.float32, repeats=False):
                opt.step(rows=[(idx, values)])
        results.append(param)
    np.testing.assert_array_equal(*results)


def test_bad_rows_change_nothing():
    a, b = table(), table(rows=10, width=3, seed=2)
    opt = pyoptim.SparseAdam([(a, np.zeros_like(a)), (b, np.zeros_like(b))])
    opt.step(rows=[(np.array([1]), np.ones((1, 8))), (np.array([2]), np.ones((1, 3)))])
    snapshot = [a.copy(), b.copy(), opt.state_dict()]
    good = (np.array([1]), np.ones((1, 8)))
    bad = [
        ([good], TypeError, "rows"),  # one entry short
        ([good, (np.array([10]), np.ones((1, 3)))], ValueError, r"rows\[1\]: indices"),
        ([good, (np.array([-1]), np.ones((1, 3)))], ValueError, r"rows\[1\]: indices"),
        ([good, (np.array([1]), np.ones((2, 3)))], ValueError, r"rows\[1\]: values"),
        ([good, (np.array([1]), np.ones((1, 3), dtype=np.float32))], TypeError, r"rows\[1\]: values"),
        ([good, (np.array([1.5]), np.ones((1, 3)))], TypeError, r"rows\[1\]: indices"),
        ([good, np.ones(3)], TypeError, r"rows\[1\]"),
    ]
    for rows, error, match in bad:
        with pytest.raises(error, match=match):
            opt.step(rows=rows)
        np.testing.assert_array_equal(a, snapshot[0])
        np.testing.assert_array_equal(b, snapshot[1])
        state = opt.state_dict()
        assert state["state"][0]["step"] == snapshot[2]["state"][0]["step"] == 1
        np.testing.assert_array_equal(state["state"][1]["exp_avg"], snapshot[2]["state"][1]["exp_avg"])


def test_the_binding_refuses_unsorted_rows_and_rules_with_per_tensor_state():
    param, m, v = table(rows=5, width=2), np.zeros((5, 2)), np.zeros((5, 2))
    options = (0.01, 0.9, 0.999, 1e-8, 0.0)
    with pytest.raises(ValueError, match="strictly increasing"):
        _core.step_rows("sparse_adam", options, 1, [(param, np.array([3, 1]), np.ones((2, 2)), m, v)])
    with pytest.raises(ValueError, match="rows of a tensor alone"):
        _core.step_rows("lamb", (0.01, 0.9, 0.999, 1e-6, 0.0, 1.0, 1.0, 0.0), 1,
                        [(param, np.array([1]), np.ones((1, 2)), m, v)])
    with pytest.raises(ValueError, match="share memory"):
        _core.step_rows("sparse_adam", options, 1, [(param, np.array([1]), np.ones((1, 2)), m, m)])


torch = pytest.importorskip("torch")
import pyoptim.torch as pt  # noqa: E402


def sparse_grad(idx, values, shape):
    return torch.sparse_coo_tensor(torch.as_tensor(idx)[None], torch.as_tensor(values), shape)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_numpy_rows_match_torch_sparse_adam(dtype):
    ours = [table(dtype=dtype), table(rows=50, width=3, dtype=dtype, seed=3)]
    theirs = [torch.tensor(x.copy(), requires_grad=True) for x in ours]
    opt = pyoptim.SparseAdam([(x, np.zeros_like(x)) for x in ours], lr=0.01, betas=(0.8, 0.99), maximize=True)
    ref = torch.optim.SparseAdam(theirs, lr=0.01, betas=(0.8, 0.99), maximize=True)
    # float32 needs no repeats (the order torch sums repeats in is its own)
    streams = [batches(300, 8, 30, dtype, seed=1, repeats=dtype == np.float64),
               batches(50, 3, 30, dtype, seed=2, repeats=dtype == np.float64)]
    for step_rows in zip(*streams):
        opt.step(rows=list(step_rows))
        for q, (idx, values), x in zip(theirs, step_rows, ours):
            q.grad = sparse_grad(idx, values, x.shape)
        ref.step()
    for x, q in zip(ours, theirs):
        if dtype == np.float32:  # bit for bit on Intel Xeon; a last-bit apart on some rows on AMD EPYC
            np.testing.assert_allclose(x, q.detach().numpy(), rtol=3e-7, atol=1e-8)
        else:
            np.testing.assert_allclose(x, q.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_torch_adapter_trains_a_sparse_embedding_like_torch():
    torch.manual_seed(0)
    ours, theirs = torch.nn.Embedding(200, 16, sparse=True), torch.nn.Embedding(200, 16, sparse=True)
    theirs.load_state_dict(ours.state_dict())
    opt, ref = pt.SparseAdam(ours.parameters(), lr=0.05), torch.optim.SparseAdam(theirs.parameters(), lr=0.05)
    gen = torch.Generator().manual_seed(1)
    for _ in range(25):
        idx = torch.randint(0, 200, (32,), generator=gen)  # repeats: coalesced by both
        target = torch.randn(32, 16, generator=gen)
        for net, o in ((ours, opt), (theirs, ref)):
            o.zero_grad()
            ((net(idx) - target) ** 2).mean().backward()
            o.step()
    np.testing.assert_allclose(ours.weight.detach().numpy(), theirs.weight.detach().numpy(), rtol=1e-5, atol=1e-7)
    assert opt.state[ours.weight]["step"] == ref.state[theirs.weight]["step"] == 25


def test_torch_adapter_steps_rows_under_step_hooks():
    p = torch.zeros(10, 2, dtype=torch.float64, requires_grad=True)
    opt = pt.SparseAdam([p], lr=0.1)
    calls = []
    opt.register_step_pre_hook(lambda o, args, kwargs: calls.append("pre"))
    opt.register_step_post_hook(lambda o, args, kwargs: calls.append("post"))
    p.grad = sparse_grad(np.array([3]), np.ones((1, 2)), (10, 2))
    opt.step()
    assert calls == ["pre", "post"]
    assert p.detach()[3].ne(0).all() and p.detach()[[0, 1, 2, 4]].eq(0).all()
