"""The one switch for mimic's optional C kernels (mimic/*/_*.c, built by setup.py).

Each kernel's Python module imports its extension only if :func:`wanted` says so, and otherwise
(or when the extension was not built) runs its numpy twin. ``MIMIC_NUMPY_KERNELS=1`` switches all
of them off; tests/test_kernels.py checks both paths give the same numbers.
"""

import os

SWITCH = "MIMIC_NUMPY_KERNELS"


def wanted() -> bool:
    """False when the environment asks for the numpy implementations."""
    return os.environ.get(SWITCH, "") in ("", "0")
