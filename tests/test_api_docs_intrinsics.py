"""Intrinsic functions' integer arguments as the Developer Guide (intrinsic functions) documents them.

Each test names the function and the statement it checks.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_intrinsics import lookup_for
from workflows.asl.errors import ASLError
from workflows.asl.intrinsics import compile_intrinsic


def _evaluate(text: str) -> Any:
    return compile_intrinsic(text).evaluate(lookup_for(None, {}))


def test_math_add_rounds_non_integer_arguments() -> None:
    """States.MathAdd: a non-integer argument is rounded to the nearest integer before adding."""
    assert _evaluate("States.MathAdd(1.6, 2)") == 4
    assert _evaluate("States.MathAdd(-1.4, 0)") == -1


def test_math_random_rounds_its_bounds() -> None:
    """States.MathRandom: non-integer start and end numbers are rounded to the nearest integer; the
    result lies from start (inclusive) to end (exclusive)."""
    values = {_evaluate("States.MathRandom(0.6, 2.6)") for _ in range(100)}
    assert values <= {1, 2} and values


def test_math_random_seed_repeats() -> None:
    """States.MathRandom (seed): the same seed gives the same number."""
    assert _evaluate("States.MathRandom(0, 1000, 7)") == _evaluate("States.MathRandom(0, 1000, 7)")


def test_array_range_builds_the_range() -> None:
    """States.ArrayRange: first element, last element (inclusive when reached), increment."""
    assert _evaluate("States.ArrayRange(1, 9, 2)") == [1, 3, 5, 7, 9]
    assert _evaluate("States.ArrayRange(5, 1, -2)") == [5, 3, 1]


@pytest.mark.parametrize(
    "text",
    [
        "States.ArrayRange(1, 2000, 1)",
        "States.ArrayRange(1, 5, 0)",
        "States.ArrayPartition(States.Array(1, 2), 0)",
    ],
)
def test_array_functions_refuse_documented_bad_arguments(text: str) -> None:
    """States.ArrayRange: at most 1000 elements, a non-zero step; States.ArrayPartition: a chunk size
    greater than 0 → the state fails (States.IntrinsicFailure / States.Runtime)."""
    with pytest.raises(ASLError):
        _evaluate(text)


def test_array_get_item_reads_by_index() -> None:
    """States.ArrayGetItem: the element at the (integer) index."""
    assert _evaluate("States.ArrayGetItem(States.Array(10, 20, 30), 1)") == 20
