"""``python -m kpitui``: the same as the ``kpitui`` command."""

import sys

from .cli import main

sys.exit(main())
