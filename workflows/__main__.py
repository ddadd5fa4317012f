"""`python -m workflows` is the `workflows` command."""

import sys

from workflows.cli import main

sys.exit(main())
