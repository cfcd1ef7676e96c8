"""`python -m brainreps.cli`: the `brainreps` command."""

import sys

from brainreps.cli import main

sys.exit(main())
