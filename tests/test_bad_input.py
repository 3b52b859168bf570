"""Bad input to every public entry point, one table: each kind must raise the
stated exception type with a message naming the argument, and leave every array
and a state_dict() taken before exactly as they were. The kinds that once
crashed the interpreter run in a subprocess, so that a crash fails the test
instead of ending the run."""

import copy
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pyoptim
import pyoptim.datasets
from pyoptim import kernels, lr_scheduler


def pairs(n=2, size=5, dtype=np.float32):
    rng = np.random.default_rng(0)
    return [(rng.standard_normal(size).astype(dtype), rng.standard_normal(size).astype(dtype)) for _ in range(n)]


def stepped(cls=pyoptim.Adam, **hyper):
    opt = cls(pairs(), **hyper)
    opt.step()
    return opt


class Watch:
    """What must not change: arrays (bit for bit) and the state_dicts of objects."""

    def __init__(self, arrays=(), stateful=()):
        self.arrays = list(arrays)
        self.stateful = list(stateful)
        self.before = self.take()

    def take(self):
        return ([a.copy() for a in self.arrays], [copy.deepcopy(s.state_dict()) for s in self.stateful])

    def unchanged(self) -> bool:
        arrays, states = self.take()
        return all(a.tobytes() == b.tobytes() for a, b in zip(arrays, self.before[0])) and \
            all(_same(a, b) for a, b in zip(states, self.before[1]))


def _same(a, b) -> bool:
    if hasattr(a, "detach") and hasattr(b, "detach"):  # torch tensors
        return a.dtype == b.dtype and a.shape == b.shape and bool((a.detach() == b.detach()).all() or
                                                                 (a.isnan() & b.isnan()).any())
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.tobytes() == b.tobytes()
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b or (a != a and b != b)  # NaN equals NaN here


def optimizer_watch(opt):
    arrays = [a for pair in opt._pairs for a in pair] + [s for entry in opt.state.values() for s in entry.values()]
    return Watch(arrays, [opt])


# Each case: id -> (setup returning (action, watch), exception type, pattern the message must contain).
CASES = {}


def case(name, error, pattern):
    def register(setup):
        CASES[name] = (setup, error, pattern)
        return setup
    return register


# ---- the NumPy API: construction ------------------------------------------------

def construction(make):
    def setup():
        return make, Watch()
    return setup


for name, make, error, pattern in [
    ("params not iterable", lambda: pyoptim.Adam(3), TypeError, "params"),
    ("params empty", lambda: pyoptim.Adam([]), ValueError, "params"),
    ("pair of lists", lambda: pyoptim.Adam([([1.0], [1.0])]), TypeError, "params"),
    ("float16 param", lambda: pyoptim.Adam([(np.zeros(3, np.float16), np.zeros(3, np.float16))]), TypeError,
     "param"),
    ("strided param", lambda: pyoptim.Adam([(np.zeros(8)[::2], np.zeros(4))]), ValueError, "param"),
    ("read-only param", lambda: pyoptim.Adam([(_read_only(), np.zeros(3))]), ValueError, "read-only"),
    ("grad of another shape", lambda: pyoptim.Adam([(np.zeros(3), np.zeros(4))]), ValueError, "grad"),
    ("grad of another dtype", lambda: pyoptim.Adam([(np.zeros(3), np.zeros(3, np.float32))]), TypeError, "grad"),
    ("one array twice", lambda: pyoptim.Adam([(a := np.zeros(3), np.zeros(3)), (a, np.zeros(3))]), ValueError,
     "share memory"),
    ("grad aliasing a param", lambda: pyoptim.Adam([(a := np.zeros(3), a)]), ValueError, "share memory"),
    ("negative lr", lambda: pyoptim.Adam(pairs(), lr=-1.0), ValueError, "lr"),
    ("lr a string", lambda: pyoptim.Adam(pairs(), lr="0.1"), TypeError, "lr"),
    ("lr 10**400", lambda: pyoptim.Adam(pairs(), lr=10 ** 400), ValueError, "lr"),
    ("lr NaN", lambda: pyoptim.Adam(pairs(), lr=float("nan")), ValueError, "lr"),
    ("beta 1.5", lambda: pyoptim.Adam(pairs(), betas=(1.5, 0.9)), ValueError, r"betas\[0\]"),
    ("betas a number", lambda: pyoptim.Adam(pairs(), betas=0.9), TypeError, "betas"),
    ("eps zero", lambda: pyoptim.Adam(pairs(), eps=0.0), ValueError, "eps"),
    ("amsgrad a string", lambda: pyoptim.Adam(pairs(), amsgrad="yes"), TypeError, "amsgrad"),
    ("unknown hyperparameter", lambda: pyoptim.Adam(pairs(), learning_rate=0.1), TypeError, "learning_rate"),
    ("nesterov without momentum", lambda: pyoptim.SGD(pairs(), nesterov=True), ValueError, "nesterov"),
    ("momentum_init unknown", lambda: pyoptim.SGD(pairs(), momentum_init="ones"), ValueError, "momentum_init"),
    ("rho above 1", lambda: pyoptim.Adadelta(pairs(), rho=1.5), ValueError, "rho"),
]:
    case(f"constructor: {name}", error, pattern)(construction(make))


def _read_only():
    a = np.zeros(3)
    a.flags.writeable = False
    return a


# ---- the NumPy API: a built optimizer ---------------------------------------------

def on_optimizer(act, cls=pyoptim.Adam, **hyper):
    def setup():
        opt = stepped(cls, **hyper)
        return (lambda: act(opt)), optimizer_watch(opt)
    return setup


def _edit_then_step(opt, key, value):
    opt.param_groups[-1][key] = value
    try:
        opt.step()
    finally:
        opt.param_groups[-1][key] = opt.defaults[key]  # the watch compares the state, not the edit


def _two_groups_bad_second(opt):
    opt.add_param_group({"params": pairs(1), "lr": 0.1})
    opt.param_groups[1]["lr"] = -1.0
    try:
        opt.step()
    finally:
        del opt.param_groups[1], opt._runs[1]
        opt._pairs = opt._pairs[:2]
        opt._steady_keys = None


def _zero_grad_with_read_only(opt):
    opt._pairs[1][1].flags.writeable = False
    try:
        opt.zero_grad()
    finally:
        opt._pairs[1][1].flags.writeable = True


GOOD = stepped().state_dict()


def _load(changes):
    def act(opt):
        bad = copy.deepcopy(GOOD)
        changes(bad)
        opt.load_state_dict(bad)
    return act


for name, act, error, pattern in [
    ("step after lr became negative", lambda o: _edit_then_step(o, "lr", -0.1), ValueError, "lr"),
    ("step after betas became bad", lambda o: _edit_then_step(o, "betas", (0.9, 1.0)), ValueError, "betas"),
    ("step with a second group gone bad", _two_groups_bad_second, ValueError, "lr"),
    ("add_param_group unknown key", lambda o: o.add_param_group({"params": pairs(1), "learning_rate": 1}),
     ValueError, "learning_rate"),
    ("add_param_group overlapping", lambda o: o.add_param_group({"params": [o._pairs[0]]}), ValueError,
     "share memory"),
    ("add_param_group not a dict", lambda o: o.add_param_group([1]), TypeError, "param_group"),
    ("policy max_norm negative", lambda o: o.set_gradient_policy(max_norm=-1.0), ValueError, "max_norm"),
    ("policy clip_value a string", lambda o: o.set_gradient_policy(clip_value="1"), TypeError, "clip_value"),
    ("zero_grad with a read-only grad", _zero_grad_with_read_only, ValueError, "read-only"),
    ("load_state_dict not a dict", lambda o: o.load_state_dict([]), TypeError, "state_dict"),
    ("load_state_dict state array missing", _load(lambda sd: sd["state"][1].pop("exp_avg")), ValueError,
     "exp_avg"),
    ("load_state_dict state array of another shape", _load(lambda sd: sd["state"][0].__setitem__(
        "exp_avg_sq", np.zeros(2, np.float32))), ValueError, "exp_avg_sq"),
    ("load_state_dict state keyed by strings", _load(lambda sd: sd.__setitem__(
        "state", {str(k): v for k, v in sd["state"].items()})), ValueError, "state"),
    ("load_state_dict step -5", _load(lambda sd: [e.__setitem__("step", -5) for e in sd["state"].values()]),
     ValueError, "step"),
    ("load_state_dict step 2.5", _load(lambda sd: [e.__setitem__("step", 2.5) for e in sd["state"].values()]),
     TypeError, "step"),
    ("load_state_dict unknown key in an entry", _load(lambda sd: sd["state"][0].__setitem__("m", 1)),
     ValueError, "unknown keys"),
    ("load_state_dict lr negative", _load(lambda sd: sd["param_groups"][0].__setitem__("lr", -1)), ValueError,
     "lr"),
    ("load_state_dict skipped_steps -1", _load(lambda sd: sd.__setitem__("skipped_steps", -1)), ValueError,
     "skipped_steps"),
]:
    case(f"optimizer: {name}", error, pattern)(on_optimizer(act))


def _nadam_nan(opt):
    bad = opt.state_dict()
    for entry in bad["state"].values():
        entry["mu_product"] = float("nan")
    opt.load_state_dict(bad)


case("optimizer: NAdam mu_product NaN", ValueError, "mu_product")(on_optimizer(_nadam_nan, pyoptim.NAdam))


# ---- pyoptim.kernels ---------------------------------------------------------------

def kernel_call(call):
    def setup():
        p, g = pairs(1)[0]
        m, v = np.zeros_like(p), np.zeros_like(p)
        return (lambda: call(p, g, m, v)), Watch([p, g, m, v])
    return setup


for name, call, error, pattern in [
    ("step 0", lambda p, g, m, v: kernels.adam_step(p, g, m, v, step=0), ValueError, "step"),
    ("step a float", lambda p, g, m, v: kernels.adam_step(p, g, m, v, step=1.5), ValueError, "step"),
    ("state of another shape", lambda p, g, m, v: kernels.adam_step(p, g, m[:2], v, step=1), ValueError,
     "exp_avg"),
    ("state missing", lambda p, g, m, v: kernels.adam_step(p, g, m, step=1), ValueError, "exp_avg_sq"),
    ("unknown argument", lambda p, g, m, v: kernels.adam_step(p, g, m, v, step=1, gamma=2), TypeError, "gamma"),
    ("mu_product NaN", lambda p, g, m, v: kernels.nadam_step(p, g, m, v, step=1, mu_product=float("nan")),
     ValueError, "mu_product"),
    ("lr negative", lambda p, g, m, v: kernels.adam_step(p, g, m, v, step=1, lr=-1), ValueError, "lr"),
]:
    case(f"kernels: {name}", error, pattern)(kernel_call(call))


# ---- FlatParameters and memory --------------------------------------------------------

for name, make, error, pattern in [
    ("shape None", lambda: pyoptim.FlatParameters({"w": None}), TypeError, r"shapes\['w'\]"),
    ("shape overflowing int64", lambda: pyoptim.FlatParameters({"w": (2 ** 62, 4)}), ValueError, r"shapes\['w'\]"),
    ("negative dimension", lambda: pyoptim.FlatParameters({"w": (3, -1)}), ValueError, r"shapes\['w'\]\[1\]"),
    ("name not a string", lambda: pyoptim.FlatParameters({1: (3,)}), TypeError, "shapes"),
    ("empty mapping", lambda: pyoptim.FlatParameters({}), TypeError, "shapes"),
    ("float16", lambda: pyoptim.FlatParameters({"w": 3}, dtype=np.float16), TypeError, "dtype"),
    ("empty_aligned offset 3 for float32", lambda: pyoptim.empty_aligned(4, np.float32, offset=3), ValueError,
     "offset"),
    ("empty_aligned shape overflowing", lambda: pyoptim.empty_aligned((2 ** 40, 2 ** 40)), ValueError, "shape"),
    ("set_num_threads 0", lambda: pyoptim.set_num_threads(0), ValueError, "threads"),
    ("set_num_threads a float", lambda: pyoptim.set_num_threads(1.5), TypeError, "threads"),
    ("set_flush_denormal a string", lambda: pyoptim.set_flush_denormal("no"), TypeError, "enabled"),
]:
    case(f"arrays: {name}", error, pattern)(construction(make))


# ---- schedulers ----------------------------------------------------------------------

def on_scheduler(act):
    def setup():
        opt = stepped()
        sched = lr_scheduler.StepLR(opt, step_size=2)
        return (lambda: act(opt, sched)), Watch([], [opt, sched])
    return setup


for name, act, error, pattern in [
    ("MultiStepLR milestones None", lambda o, s: lr_scheduler.MultiStepLR(o, None), TypeError, "milestones"),
    ("MultiStepLR negative milestone", lambda o, s: lr_scheduler.MultiStepLR(o, [3, -1]), ValueError,
     r"milestones\[1\]"),
    ("StepLR step_size 0", lambda o, s: lr_scheduler.StepLR(o, step_size=0), ValueError, "step_size"),
    ("ExponentialLR gamma negative", lambda o, s: lr_scheduler.ExponentialLR(o, gamma=-1), ValueError, "gamma"),
    ("scheduler of no optimizer", lambda o, s: lr_scheduler.StepLR(object(), step_size=1), TypeError, "optimizer"),
    ("load_state_dict not a dict", lambda o, s: s.load_state_dict([1, 2]), TypeError, "state_dict"),
    ("load_state_dict wrong keys", lambda o, s: s.load_state_dict({"last_epoch": 3}), ValueError, "keys"),
    ("load_state_dict last_epoch a string", lambda o, s: s.load_state_dict(
        {**s.state_dict(), "last_epoch": "3"}), TypeError, "last_epoch"),
    ("load_state_dict base_lrs too short", lambda o, s: s.load_state_dict(
        {**s.state_dict(), "base_lrs": []}), ValueError, "base_lrs"),
    ("ReduceLROnPlateau metric NaN", lambda o, s: lr_scheduler.ReduceLROnPlateau(o).step(float("nan")),
     ValueError, "metrics"),
]:
    case(f"schedulers: {name}", error, pattern)(on_scheduler(act))


# ---- datasets --------------------------------------------------------------------------

def on_dataset(act):
    def setup():
        return act, Watch()
    return setup


for name, act, error, pattern in [
    ("load_idx of a number", lambda: pyoptim.datasets.load_idx(3), TypeError, "path"),
    ("save_idx of a list", lambda: pyoptim.datasets.save_idx("/tmp/x.idx", [1, 2]), TypeError, "array"),
    ("load_mnist data_dir a number", lambda: pyoptim.datasets.load_mnist(3), TypeError, "data_dir"),
    ("load_idx_dataset num_classes 0", lambda: pyoptim.datasets.load_idx_dataset("/nonexistent", num_classes=0),
     ValueError, "num_classes"),
]:
    case(f"datasets: {name}", error, pattern)(on_dataset(act))


# ---- checkpoints: the entry points (damaged files: test_checkpoint_fuzz.py) -------------

def on_checkpoint(act):
    def setup():
        from pyoptim import nn, train
        model = nn.mlp(4, (3,), 2, seed=0)
        opt = pyoptim.Adam(model.parameters())
        return (lambda: act(train, model, opt)), Watch([model.flat.params], [opt])
    return setup


for name, act, error, pattern in [
    ("load_checkpoint of a missing file", lambda t, m, o: t.load_checkpoint("/nonexistent.ckpt", model=m, optimizer=o),
     FileNotFoundError, "nonexistent"),
    ("load_checkpoint of a file that is no checkpoint", lambda t, m, o: t.load_checkpoint(__file__, model=m,
                                                                                         optimizer=o),
     ValueError, "test_bad_input.py"),
    ("save_checkpoint into a file path's directory", lambda t, m, o: t.save_checkpoint(
        __file__ + "/x.ckpt", model=m, optimizer=o), OSError, "test_bad_input.py"),
]:
    case(f"checkpoints: {name}", error, pattern)(on_checkpoint(act))


# ---- pyoptim.torch ---------------------------------------------------------------------

def on_torch(act, cls="Adam", **hyper):
    def setup():
        torch = pytest.importorskip("torch")
        import pyoptim.torch as pt
        params = [torch.nn.Parameter(torch.randn(4, 3)), torch.nn.Parameter(torch.randn(5))]
        opt = getattr(pt, cls)(params, **hyper)
        for p in params:
            p.grad = torch.randn_like(p)
        opt.step()
        return (lambda: act(torch, opt, params)), TensorWatch(params, [opt])
    return setup


class TensorWatch(Watch):
    """A Watch over torch tensors too."""

    def __init__(self, tensors, stateful):
        self.tensors, self.tensors_before = tensors, [t.detach().clone() for t in tensors]
        super().__init__([], stateful)

    def unchanged(self) -> bool:
        return super().unchanged() and all(_same(a, b) for a, b in zip(self.tensors, self.tensors_before))


def _torch_edit_then_step(opt, key, value):
    before = opt.param_groups[0][key]
    opt.param_groups[0][key] = value
    try:
        opt.step()
    finally:
        opt.param_groups[0][key] = before  # the watch compares the state, not the edit


def _torch_grad(torch, opt, params, make):
    params[1].grad = make(torch, params[1])
    opt.step()


for name, act, error, pattern in [
    ("lr negative", lambda t, o, p: _torch_edit_then_step(o, "lr", -1.0), ValueError, "lr"),
    ("capturable", lambda t, o, p: _torch_edit_then_step(o, "capturable", True), ValueError, "capturable"),
    ("add_param_group with bad betas", lambda t, o, p: o.add_param_group(
        {"params": [t.nn.Parameter(t.zeros(2))], "betas": (1.5, 0.9)}), ValueError, "betas"),
    ("a sparse gradient", lambda t, o, p: _torch_grad(t, o, p, lambda t, q: t.ones_like(q).to_sparse()),
     TypeError, "sparse"),
    ("a gradient aliasing the other parameter", lambda t, o, p: _torch_grad(t, o, p, lambda t, q: p[0].detach()
                                                                            .flatten()[:5]), ValueError,
     "share memory"),
    ("load_state_dict with a state of another shape", lambda t, o, p: o.load_state_dict(
        {**o.state_dict(), "state": {**o.state_dict()["state"], 1: {**o.state_dict()["state"][1],
                                                                      "exp_avg": t.zeros(7)}}}),
     ValueError, "exp_avg"),
]:
    case(f"torch: {name}", error, pattern)(on_torch(act))


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_refused_and_changes_nothing(name):
    setup, error, pattern = CASES[name]
    act, watch = setup()
    with pytest.raises(error, match=pattern):
        act()
    assert watch.unchanged(), "something changed before the error"


# ---- the kinds that once crashed: in a subprocess -----------------------------------

CRASHERS = {
    "param resized under the plan": """
        w = np.ones(400_000, np.float32); g = np.ones_like(w)
        o = pyoptim.Adam([(w, g)]); o.step()
        w.resize(100_000, refcheck=False)
        o.step()""",
    "grad resized under the plan": """
        w = np.ones(400_000, np.float32); g = np.ones_like(w)
        o = pyoptim.Adam([(w, g)]); o.step()
        g.resize(100_000, refcheck=False)
        o.step()""",
    "grad resized, then the norm": """
        w = np.ones(400_000, np.float32); g = np.ones_like(w)
        o = pyoptim.Adam([(w, g)]); o.set_gradient_policy(max_norm=1.0); o.step()
        g.resize(10, refcheck=False)
        o.step()""",
}


@pytest.mark.parametrize("name", sorted(CRASHERS))
def test_arrays_moved_under_a_plan_are_refused_not_a_crash(name):
    script = "import numpy as np, pyoptim\ntry:\n" + textwrap.indent(textwrap.dedent(CRASHERS[name]), "    ") + \
        "\nexcept ValueError as e:\n    print('refused:', e)\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"crashed (status {done.returncode}): {done.stderr[-2000:]}"
    assert "refused:" in done.stdout and "resized or reallocated" in done.stdout


def test_the_cli_names_the_option(capsys, tmp_path):
    from pyoptim import cli
    for argv, flag in [(["train", "--lr", "-1"], "--lr"), (["train", "--epochs", "0"], "--epochs"),
                       (["compare", "--batch-size", "0"], "--batch-size")]:
        status = cli.main([*argv, "--output-dir", str(tmp_path / "out")])
        err = capsys.readouterr().err
        assert status == 2 and flag in err, (argv, err)
        assert not (tmp_path / "out").exists()
