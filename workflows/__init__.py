"""A local AWS Step Functions engine: ASL interpreter, Step Functions API, console and pipeline."""

__all__: list[str] = []
