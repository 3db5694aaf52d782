"""``python mimic/export_policy.py`` runs the script, whose front end is mimic/cli/export_policy.py."""

import sys

if __name__ == "__main__":  # run as a file, sys.path[0] is mimic/: use this checkout instead
    sys.path[0] = __file__.rpartition("mimic")[0] or "."
from mimic.cli.export_policy import main  # noqa: E402  (also what entry points of older installs name)

if __name__ == "__main__":
    sys.exit(main())
