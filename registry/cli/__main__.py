"""`python -m registry.cli` runs the `certreg` command line."""

import sys

from registry.cli import main

sys.exit(main())
