"""``python -m kpitui``: the same as the ``kpitui`` command."""

import sys

from .cli import main

if __name__ == "__main__":  # importing this module (tools that walk the package) must not start kpitui
    sys.exit(main())
