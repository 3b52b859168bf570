"""Writing a comparison's results: a Markdown table and a PNG of the curves."""

from __future__ import annotations

import math
from pathlib import Path


def _fmt(value, spec: str, missing: str = "-") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return missing
    return format(value, spec)


def markdown_table(results: list) -> str:
    """One row per rule: final test accuracy and loss, best epoch, seconds per epoch, total seconds."""
    lines = ["| rule | hyperparameters | test accuracy | test loss | best epoch | seconds / epoch | total seconds |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        h = r.history
        accuracy = "diverged" if h.diverged else _fmt(None if h.test_accuracy is None else 100 * h.test_accuracy, ".2f")
        best = _fmt(h.best_epoch, "d") + (f" of {h.epochs_run}" if h.epochs_run else "")
        lines.append(f"| {r.entry.label} | {r.entry.describe()} | {accuracy}{'%' if accuracy[0].isdigit() else ''} "
                     f"| {_fmt(h.test_loss, '.4f')} | {best} | {_fmt(h.seconds_per_epoch(), '.2f')} "
                     f"| {_fmt(h.total_seconds, '.1f')} |")
    return "\n".join(lines) + "\n"


def write_markdown(results: list, path, *, title: str, setup: list) -> None:
    """The table under a title and a bullet list describing the setup."""
    text = [f"# {title}", ""] + [f"- {line}" for line in setup] + ["", markdown_table(results)]
    text.append("Best epoch: lowest validation loss (training loss without a validation split). "
                "Seconds per epoch: the update steps only, evaluation excluded.\n")
    Path(path).write_text("\n".join(text))


def matplotlib_missing() -> str | None:
    """None if matplotlib can be imported, else why not."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as e:
        return str(e)
    return None


def plot_curves(results: list, path, *, title: str = "") -> None:
    """Loss and accuracy per epoch (top) and against training wall time (bottom), one colour per rule.

    Solid lines: validation (when there is a split); dashed: training. Loss
    is on a log scale. Needs matplotlib (ImportError otherwise); draws with
    the Agg backend, so no display is needed.
    """
    # Imported here, not at the top: matplotlib is optional (the `plot` extra), and only plotting needs it.
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    colours = plt.get_cmap("tab10")
    for i, r in enumerate(results):
        # Ten distinct colours; past ten, the colours repeat with another marker.
        h, colour, marker = r.history, colours(i % 10), "os^Dv*"[i // 10 % 6]
        if not h.epoch:
            continue
        elapsed, total = [], 0.0
        for s in h.train_seconds:
            total += s
            elapsed.append(total)
        for row, xs in ((0, h.epoch), (1, elapsed)):
            for col, (train, val) in enumerate(((h.train_loss, h.val_loss), (h.train_accuracy, h.val_accuracy))):
                ax = axes[row][col]
                scale = 1 if col == 0 else 100
                has_val = any(v is not None for v in val)
                if has_val:
                    ax.plot(xs, [scale * v for v in val], color=colour, marker=marker, markersize=3,
                            label=r.entry.label)
                if all(v is not None for v in train):
                    ax.plot(xs, [scale * v for v in train], color=colour, linestyle="--", alpha=0.6,
                            label=None if has_val else r.entry.label)
    for row, xlabel in ((0, "epoch"), (1, "training time (s)")):
        axes[row][0].set_ylabel("loss")
        axes[row][0].set_yscale("log")
        axes[row][1].set_ylabel("accuracy (%)")
        for col in (0, 1):
            axes[row][col].set_xlabel(xlabel)
            axes[row][col].grid(True, alpha=0.3)
    for row in (0, 1):
        _zoom_accuracy(axes[row][1])
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize="small")
    fig.suptitle((title + "\n" if title else "") + "solid: validation, dashed: training", fontsize="medium")
    fig.tight_layout(rect=(0, 0, 0.87, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _zoom_accuracy(ax) -> None:
    """Show the interesting top of the accuracy axis rather than a diverged rule's 10%."""
    values = [y for line in ax.get_lines() for y in line.get_ydata()]
    if values:
        top = max(values)
        ax.set_ylim(max(min(values), top - 15), min(100, top + 0.5))
