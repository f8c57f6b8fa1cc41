"""``python -m workstation``: the same as the ``workstation`` command."""

from __future__ import annotations

import sys

from workstation.cli import main

if __name__ == "__main__":
    sys.exit(main())
