"""Errors of the engine, as ASL sees them (a name and a cause) and as the tools see them.

Exception
 ├── ASLError                    an error an execution can raise, retry and catch: (error, cause)
 │    ├── FailStateError         raised by a Fail state; never retried or caught
 │    └── StateError             raised by the engine in a state; the cause gets the state prefix
 ├── DefinitionError             an invalid definition: a list of Diagnostic (code, message, JSON pointer)
 └── ServiceError               an API error: AWS's code, message and HTTP status
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Names AWS uses for errors the engine itself raises.
ALL = "States.ALL"
TASK_FAILED = "States.TaskFailed"
RUNTIME = "States.Runtime"
TIMEOUT = "States.Timeout"
HEARTBEAT_TIMEOUT = "States.HeartbeatTimeout"
DATA_LIMIT_EXCEEDED = "States.DataLimitExceeded"
INTRINSIC_FAILURE = "States.IntrinsicFailure"
QUERY_EVALUATION_ERROR = "States.QueryEvaluationError"
RESULT_PATH_MATCH_FAILURE = "States.ResultPathMatchFailure"
PARAMETER_PATH_FAILURE = "States.ParameterPathFailure"
BRANCH_FAILED = "States.BranchFailed"
NO_CHOICE_MATCHED = "States.NoChoiceMatched"
ITEM_READER_FAILED = "States.ItemReaderFailed"
EXCEED_TOLERATED_FAILURE_THRESHOLD = "States.ExceedToleratedFailureThreshold"
PERMISSIONS = "States.Permissions"

# Errors that States.ALL does not match. The ASL spec also names States.DataLimitExceeded, but AWS's
# recorded executions show a States.ALL catcher taking it; States.Runtime is never caught at all.
NOT_CAUGHT_BY_ALL = frozenset({RUNTIME})


class ASLError(Exception):
    """An error raised inside an execution; Retry and Catch match on `error`."""

    def __init__(self, error: str, cause: str | None = None) -> None:
        super().__init__(f"{error}: {cause}" if cause else error)
        self.error = error
        self.cause = cause


class FailStateError(ASLError):
    """A Fail state ended the execution (or branch); it cannot be retried or caught."""


class StateError(ASLError):
    """An error of the engine inside a state; AWS prefixes its cause with the state's name and the id
    of its entered event ("An error occurred while executing the state 'X' (entered at the event id #2). ...")."""

    def __init__(self, error: str, cause: str | None = None, location: str | None = None) -> None:
        super().__init__(error, cause)
        self.location = location  # the definition field that failed, e.g. "Output/result"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding of definition validation, shaped as ValidateStateMachineDefinition returns it."""

    code: str
    message: str
    location: str = ""
    severity: str = "ERROR"

    def to_api(self) -> dict[str, str]:
        out = {"severity": self.severity, "code": self.code, "message": self.message}
        if self.location:
            out["location"] = self.location
        return out

    def __str__(self) -> str:
        where = f" at {self.location}" if self.location else ""
        return f"{self.severity} {self.code}{where}: {self.message}"


class DefinitionError(Exception):
    """A definition that cannot run; carries every diagnostic found."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("; ".join(str(d) for d in diagnostics) or "invalid definition")


class ServiceError(Exception):
    """An error answered by the Step Functions API: AWS's error code, message and HTTP status."""

    def __init__(self, code: str, message: str = "", status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def error_matches(equals: Iterable[str], error: str) -> bool:
    """Whether a Retry or Catch `ErrorEquals` takes `error`: the name itself, States.ALL (all but
    the errors it does not catch), States.TaskFailed (all but States.* errors)."""
    for name in equals:
        if name == error:
            return True
        if name == ALL and error not in NOT_CAUGHT_BY_ALL:
            return True
        if name == TASK_FAILED and error not in NOT_CAUGHT_BY_ALL and not error.startswith("States."):
            return True
    return False
