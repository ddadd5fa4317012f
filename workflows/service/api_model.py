"""Request validation for the Step Functions API against botocore's service model, with AWS's messages."""

from __future__ import annotations

from typing import Any

from workflows.asl.errors import ServiceError

# AWS lists some enums in its own order in validation messages, not the model's.
_ENUM_ORDER = {
    "ExecutionStatus": ["SUCCEEDED", "TIMED_OUT", "PENDING_REDRIVE", "ABORTED", "FAILED", "RUNNING"],
}

# -- generic request validation against botocore's model -------------------------------------------

_MODEL: Any = None


def service_model() -> Any:
    global _MODEL
    if _MODEL is None:
        import botocore.session

        _MODEL = botocore.session.get_session().get_service_model("stepfunctions")
    return _MODEL


def _java_repr(value: Any, shape: Any) -> str:
    if isinstance(value, dict):
        inner = ", ".join(
            f"{k}={_java_repr(v, shape.members.get(k) if shape is not None and hasattr(shape, 'members') else None)}"
            for k, v in value.items()
        )
        return f"{shape.name if shape is not None else ''}({inner})"
    if isinstance(value, list):
        member = getattr(shape, "member", None)
        return "[" + ", ".join(_java_repr(v, member) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def validate_request(op: str, params: dict[str, Any]) -> None:
    """Check a request against the operation's input shape: AWS's ValidationException on failure."""
    model = service_model().operation_model(op)
    errors: list[str] = []
    if not isinstance(params, dict):
        raise ServiceError("SerializationException", "Start of structure or map found where not expected.")
    _check_structure(model.input_shape, params, "", errors)
    if errors:
        n = len(errors)
        head = f"{n} validation error{'s' if n > 1 else ''} detected: "
        raise ServiceError("ValidationException", head + "; ".join(errors))


def _fail(errors: list[str], value: Any, shape: Any, path: str, constraint: str) -> None:
    if shape.metadata.get("sensitive"):
        errors.append(f"Value at '{path}' failed to satisfy constraint: {constraint}")
    else:
        errors.append(
            f"Value '{_java_repr(value, shape)}' at '{path}' failed to satisfy constraint: {constraint}"
        )


def _check_structure(shape: Any, value: dict[str, Any], prefix: str, errors: list[str]) -> None:
    for name in shape.required_members:
        if value.get(name) is None:
            errors.append(
                f"Value null at '{prefix}{name}' failed to satisfy constraint: Member must not be null"
            )
    for name, member_value in value.items():
        member = shape.members.get(name)
        if member is None:
            # Caught here, before any Python call sees the request: a member the model does not
            # have must not reach `service.<operation>(**params)` as an unexpected keyword.
            raise ServiceError(
                "SerializationException",
                f"Unexpected field '{prefix}{name}': {shape.name} has no such member",
            )
        if member_value is None:
            continue
        _check_value(member, member_value, f"{prefix}{name}", errors)


def _check_length(shape: Any, value: Any, path: str, errors: list[str]) -> None:
    meta = shape.metadata
    if "min" in meta and len(value) < meta["min"]:
        _fail(errors, value, shape, path, f"Member must have length greater than or equal to {meta['min']}")
    if "max" in meta and len(value) > meta["max"]:
        _fail(errors, value, shape, path, f"Member must have length less than or equal to {meta['max']}")


def _check_value(shape: Any, value: Any, path: str, errors: list[str]) -> None:
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        if not isinstance(value, dict):
            raise ServiceError("SerializationException", f"Unexpected value at '{path}'")
        _check_structure(shape, value, path + ".", errors)
        return
    if kind == "list":
        if not isinstance(value, list):
            raise ServiceError("SerializationException", f"Unexpected value at '{path}'")
        _check_length(shape, value, path, errors)
        for i, item in enumerate(value, 1):
            if item is not None:
                _check_value(shape.member, item, f"{path}.{i}.member", errors)
        return
    if kind == "string":
        if not isinstance(value, str):
            raise ServiceError("SerializationException", f"Unexpected value at '{path}'")
        _check_length(shape, value, path, errors)
        if shape.enum and value not in shape.enum:
            order = _ENUM_ORDER.get(shape.name, shape.enum)
            _fail(errors, value, shape, path, f"Member must satisfy enum value set: [{', '.join(order)}]")
        return
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ServiceError("SerializationException", f"Unexpected value at '{path}'")
        if "min" in meta and value < meta["min"]:
            _fail(
                errors, value, shape, path, f"Member must have value greater than or equal to {meta['min']}"
            )
        if "max" in meta and value > meta["max"]:
            _fail(errors, value, shape, path, f"Member must have value less than or equal to {meta['max']}")
        return
    if kind == "boolean" and not isinstance(value, bool):
        raise ServiceError("SerializationException", f"Unexpected value at '{path}'")
