"""``python -m distlab`` is the same as the ``distlab`` command."""

import sys

from distlab.cli import main

sys.exit(main())
