"""The README's "Testing your state machines" example runs as written, through the plugin's fixture."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_example_passes(sfn: Any) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Testing your state machines") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, "the section has a python example"
    namespace: dict[str, Any] = {}
    exec(compile(code.group(1), "README.md", "exec"), namespace)
    tests = [fn for name, fn in namespace.items() if name.startswith("test_")]
    assert len(tests) == 1
    tests[0](sfn)
