"""``python -m qgac_fast``: the ``qgac-fast`` command line (see ``qgac_fast.cli``)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
