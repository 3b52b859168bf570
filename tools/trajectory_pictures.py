"""Regenerates the pictures of the update rules that the README shows (docs/):

    python tools/trajectory_pictures.py          # the three PNGs, in about ten seconds
    python tools/trajectory_pictures.py --gif    # and docs/trajectories.gif (a minute more)

- docs/trajectories.png: ``pyoptim trajectories``, six rules on five test functions;
- docs/trajectories-batch.png: plain SGD on a 64-sample regression, full batch against
  mini-batches of 16 and 4 and one sample;
- docs/trajectories-schedule.png: the same SGD on mini-batches of 4, a constant lr
  against step, exponential and cosine decays.

Each is one call of pyoptim.train.trajectories, and the same picture comes from the
command printed beside it. Everything is seeded: a rerun changes the files only when
pyoptim or matplotlib draw differently. The PNGs are then reduced to 256 colours, which
they hold with room to spare, at a third of the size in the repository.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from PIL import Image

from pyoptim import train

DOCS = Path(__file__).resolve().parent.parent / "docs"

PICTURES = [
    ("trajectories.png", {}, ""),
    ("trajectories-batch.png", {"function": "regression", "rules": ["sgd"], "batch_sizes": ["full", 16, 4, 1]},
     "--batch-sizes full 16 4 1"),
    ("trajectories-schedule.png", {"function": "regression", "rules": ["sgd"], "batch_sizes": [4],
                                   "schedules": ["none", "step", "exponential", "cosine"], "steps": 200},
     "--batch-sizes 4 --schedules none step exponential cosine --steps 200"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gif", action="store_true", help="also write docs/trajectories.gif")
    parser.add_argument("--output-dir", type=Path, default=DOCS, help=f"(default: {DOCS})")
    args = parser.parse_args()
    for name, call, options in PICTURES:
        started = time.perf_counter()
        gif = args.output_dir / "trajectories.gif" if args.gif and name == "trajectories.png" else None
        train.trajectories(**call, output=args.output_dir / name, gif=gif)
        with Image.open(args.output_dir / name) as picture:
            # No dithering: the bands of the contours stay flat, and flat bands compress.
            reduced = picture.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                                                      dither=Image.Dither.NONE)
        reduced.save(args.output_dir / name, optimize=True)
        command = f"pyoptim trajectories {options}".strip()
        print(f"wrote {args.output_dir / name}{' and ' + str(gif) if gif else ''} in "
              f"{time.perf_counter() - started:.1f} s  ({command})")


if __name__ == "__main__":
    main()
