"""Checkpoint and resume: N epochs straight equal N/2, a checkpoint, and N/2 more
in a fresh process, bit for bit; checkpoints are written atomically; a
truncated or mismatched one is refused before anything changes."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pyoptim
from pyoptim import nn, train
from pyoptim.train import CheckpointError

SETUP = """
import numpy as np, pyoptim
from pyoptim import nn, train, lr_scheduler

def build(kind, mnist_dir):
    data, _ = train.load_mnist_splits(mnist_dir, limit_train=1500, limit_test=10)
    model = nn.mlp(784, (32, 16), 10, seed=5)
    if kind == "nadam-cosine":
        opt = pyoptim.NAdam(model.parameters(), lr=3e-3, weight_decay=1e-4)
        sched = lr_scheduler.CosineAnnealingLR(opt, T_max=4)
    else:
        opt = pyoptim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
        sched = lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    opt.set_gradient_policy(max_norm=2.0)
    return model, opt, sched, data

def run(kind, mnist_dir, epochs, checkpoint=None, resume=False):
    model, opt, sched, data = build(kind, mnist_dir)
    history = train.fit(model, opt, data, epochs=epochs, batch_size=50, validation_fraction=0.2, seed=3,
                        scheduler=sched, early_stopping_patience=3, checkpoint=checkpoint, resume=resume)
    return model, opt, history
"""

namespace = {}
exec(SETUP, namespace)


@pytest.mark.parametrize("kind", ["nadam-cosine", "sgd-plateau"])
def test_resume_in_a_fresh_process_is_bit_identical(mnist_dir, tmp_path, kind):
    straight, _, straight_history = namespace["run"](kind, mnist_dir, 4)
    checkpoint = tmp_path / "run.ckpt"
    namespace["run"](kind, mnist_dir, 2, checkpoint=checkpoint)
    out = tmp_path / "resumed.npy"
    script = SETUP + textwrap.dedent(f"""
        model, opt, history = run({kind!r}, {str(mnist_dir)!r}, 4, checkpoint={str(checkpoint)!r}, resume=True)
        np.save({str(out)!r}, model.get_weights())
        print(history.epochs_run)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "4"
    np.testing.assert_array_equal(np.load(out), straight.get_weights())
    assert straight_history.epochs_run == 4


def test_checkpoint_write_is_atomic(mnist_dir, tmp_path, monkeypatch):
    checkpoint = tmp_path / "run.ckpt"
    model, opt, _ = namespace["run"]("nadam-cosine", mnist_dir, 1, checkpoint=checkpoint)
    before = checkpoint.read_bytes()

    def crash(stream, **arrays):
        stream.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(train.checkpoint.np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        train.save_checkpoint(checkpoint, model=model, optimizer=opt)
    assert checkpoint.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["run.ckpt"]


def _fresh(kind, mnist_dir):
    model, opt, sched, _ = namespace["build"](kind, mnist_dir)
    return model, opt, sched


def test_truncated_or_mismatched_checkpoints_change_nothing(mnist_dir, tmp_path):
    checkpoint = tmp_path / "run.ckpt"
    namespace["run"]("nadam-cosine", mnist_dir, 1, checkpoint=checkpoint)
    data = checkpoint.read_bytes()

    model, opt, sched = _fresh("nadam-cosine", mnist_dir)
    weights, opt_state = model.get_weights(), opt.state_dict()

    def unchanged():
        np.testing.assert_array_equal(model.get_weights(), weights)
        after = opt.state_dict()
        assert after["param_groups"] == opt_state["param_groups"]
        for i in after["state"]:
            for k, v in after["state"][i].items():
                np.testing.assert_array_equal(v, opt_state["state"][i][k])

    for cut in (10, len(data) // 2, len(data) - 30):
        truncated = tmp_path / f"cut{cut}.ckpt"
        truncated.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=f"cut{cut}.ckpt"):
            train.load_checkpoint(truncated, model=model, optimizer=opt, scheduler=sched)
        unchanged()

    other_model = nn.mlp(784, (32,), 10)
    with pytest.raises(CheckpointError, match="another model architecture"):
        train.load_checkpoint(checkpoint, model=other_model, optimizer=pyoptim.NAdam(other_model.parameters()))
    other_opt = pyoptim.Adam(model.parameters())
    with pytest.raises(CheckpointError, match="saved for NAdam"):
        train.load_checkpoint(checkpoint, model=model, optimizer=other_opt, scheduler=sched)
    with pytest.raises(CheckpointError, match="schedule"):
        train.load_checkpoint(checkpoint, model=model, optimizer=opt, scheduler=None)
    unchanged()
    with pytest.raises(FileNotFoundError):
        train.load_checkpoint(tmp_path / "missing.ckpt", model=model, optimizer=opt)
    train.load_checkpoint(checkpoint, model=model, optimizer=opt, scheduler=sched)
    assert opt.state_dict()["state"][0]["step"] > 0
