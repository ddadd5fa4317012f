"""`python -m workflows.bench`: the benchmark suites (see workflows.bench.suite)."""

import sys

from workflows.bench.suite import main

sys.exit(main())
