"""`python -m workflows.bench`: the three benchmark suites (see workflows.bench.suite)."""

import sys

from workflows.bench.suite import main

sys.exit(main())
