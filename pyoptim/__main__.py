"""``python -m pyoptim``: the same as the ``pyoptim`` command."""

from .cli import main

raise SystemExit(main())
