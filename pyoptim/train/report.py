"""Writing a comparison's results: a Markdown table and a PNG of the curves; the colours and
markers that tell the rules apart in every picture of pyoptim.train."""

from __future__ import annotations

import math
from pathlib import Path


def _fmt(value, spec: str, missing: str = "-") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return missing
    return format(value, spec)


def by_test_accuracy(results: list) -> list:
    """The results from the best final test accuracy to the worst; diverged runs and runs
    without a test measure last, each group in its given order."""
    def key(r):
        h = r.history
        measured = not h.diverged and h.test_accuracy is not None and math.isfinite(h.test_accuracy)
        return (0, -h.test_accuracy) if measured else (1, 0.0)
    return sorted(results, key=key)


def markdown_table(results: list) -> str:
    """One row per rule, best test accuracy first: final test accuracy and loss, best epoch,
    seconds per epoch, total seconds."""
    lines = ["| rule | hyperparameters | test accuracy | test loss | best epoch | seconds / epoch | total seconds |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in by_test_accuracy(results):
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
    text.append("Rows from the best test accuracy to the worst. Best epoch: lowest validation loss (training "
                "loss without a validation split). Seconds per epoch: the update steps only, evaluation excluded.\n")
    Path(path).write_text("\n".join(text))


# Eighteen colours, each at least 25 CIELAB units (clearly visible) from every other:
# tab10's, then black, pure blue, magenta, maroon, dark green, lime, navy and amber.
RULE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                "#bcbd22", "#17becf", "#000000", "#0000ff", "#ff00ff", "#800000", "#006400", "#7fdf00",
                "#000080", "#ffb000")
# Seven markers against eighteen colours: neighbours in a list differ in both.
RULE_MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def rule_style(index: int) -> tuple:
    """``(colour, marker)`` of the index-th rule of a picture; colours repeat only after
    len(RULE_COLOURS) rules, and then with another marker."""
    colour = RULE_COLOURS[index % len(RULE_COLOURS)]
    marker = RULE_MARKERS[(index + index // len(RULE_COLOURS)) % len(RULE_MARKERS)]
    return colour, marker


def matplotlib_missing() -> str | None:
    """None if matplotlib can be imported, else why not."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as e:
        return str(e)
    return None


def new_figure(**kwargs):
    """A matplotlib Figure (``matplotlib.figure.Figure(**kwargs)``), drawn off screen.

    A Figure made without pyplot leaves the caller's backend and pyplot's list of
    figures alone, and needs no display. ImportError, saying how to install it,
    without matplotlib.
    """
    # Imported here, not at the top: matplotlib is optional (the `plot` extra), and only plotting needs it.
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError(f"drawing needs matplotlib ({e}); install it with pip install 'pyoptim[plot]' "
                          "or pip install matplotlib") from e
    return Figure(**kwargs)


def plot_curves(results: list, path, *, title: str = "") -> None:
    """Write `curves_figure(results, title=title)` to `path` (PNG). Needs matplotlib (ImportError otherwise)."""
    curves_figure(results, title=title).savefig(path, dpi=100)


def curves_figure(results: list, *, title: str = ""):
    """Loss and accuracy per epoch (top row) and against training wall time (middle row),
    one colour and marker per rule; below, a summary: each rule's final test accuracy and
    seconds per epoch, best rule first.

    Solid lines: validation (when there is a split); dashed: training. Loss
    is on a log scale. Returns a matplotlib Figure (ImportError without matplotlib).
    """
    figure = new_figure(figsize=(15, 14), layout="constrained")
    axes = figure.subplots(3, 2, height_ratios=(1, 1, 0.45 + 0.05 * len(results)))
    styles = {id(r): rule_style(i) for i, r in enumerate(results)}
    for r in results:
        h, (colour, marker) = r.history, styles[id(r)]
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
                    ax.plot(xs, [scale * v for v in val], color=colour, marker=marker, markersize=4,
                            linewidth=1.3, label=r.entry.label)
                if all(v is not None for v in train):
                    # Faint: with a dozen rules, the training curves would hide the validation ones.
                    ax.plot(xs, [scale * v for v in train], color=colour, linestyle="--", linewidth=1, alpha=0.45,
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
    _draw_summary(axes[2][0], axes[2][1], results, styles)
    handles, labels = axes[0][0].get_legend_handles_labels()
    # On the top right panel rather than the figure: constrained layout makes room for an
    # axes' legend outside it (for a figure's, only from matplotlib 3.7 on).
    axes[0][1].legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="medium", title="rule")
    figure.suptitle((title + "\n" if title else "") + "solid: validation, dashed: training", fontsize="medium")
    return figure


def _draw_summary(accuracy_ax, speed_ax, results: list, styles: dict) -> None:
    """Horizontal bars, best test accuracy at the top: accuracy (left) and seconds per epoch (right)."""
    ordered = by_test_accuracy(results)
    rows = list(range(len(ordered)))[::-1]  # the first (best) at the top
    labels = [r.entry.label for r in ordered]
    accuracies = [None if r.history.diverged or r.history.test_accuracy is None else 100 * r.history.test_accuracy
                  for r in ordered]
    seconds = [r.history.seconds_per_epoch() for r in ordered]
    for ax, values, unit, fmt in ((accuracy_ax, accuracies, "final test accuracy (%)", ".2f"),
                                  (speed_ax, seconds, "seconds per epoch (update steps only)", ".3f")):
        for row, r, value in zip(rows, ordered, values):
            if value is None or not math.isfinite(value):
                ax.text(0.01, row, "diverged" if r.history.diverged else "not measured", va="center",
                        transform=ax.get_yaxis_transform(), fontsize="small")
                continue
            ax.barh(row, value, color=styles[id(r)][0], height=0.7)
            ax.text(value, row, f" {value:{fmt}}", va="center", fontsize="small")
        ax.set_yticks(rows, labels)
        ax.set_xlabel(unit)
        ax.grid(True, axis="x", alpha=0.3)
        ax.set_ylim(-0.6, len(ordered) - 0.4)
    measured = [a for a in accuracies if a is not None]
    if measured:
        # Zoomed on the spread of the rules (the values are printed on the bars): from 0,
        # a 0.3-point difference between two rules would not show.
        low, high = min(measured), max(measured)
        margin = max(1.0, 0.25 * (high - low))
        accuracy_ax.set_xlim(max(0.0, low - margin), min(100.0, high + margin) + 0.15 * margin)
    finite = [s for s in seconds if math.isfinite(s)]
    if finite:
        speed_ax.set_xlim(0, 1.18 * max(finite))
    accuracy_ax.set_title("summary, best test accuracy first", fontsize="medium", loc="left")


def _zoom_accuracy(ax) -> None:
    """Show the interesting top of the accuracy axis rather than a diverged rule's 10%."""
    values = [y for line in ax.get_lines() for y in line.get_ydata()]
    if values:
        top = max(values)
        ax.set_ylim(max(min(values), top - 15), min(100, top + 0.5))
