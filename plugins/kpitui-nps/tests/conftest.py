"""Make ``kpitui_nps`` importable from a checkout, installed or not.

The fixtures (``kpitui_config``, ``kpitui_cli`` …) come from kpitui itself:
installing kpitui registers :mod:`kpitui.testing` as a pytest plugin.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
