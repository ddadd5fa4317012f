"""The `workflows` command line: run, validate, serve, dev, upload, executions, history, graph."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from workflows.asl.errors import DefinitionError


def _read_json_arg(value: str | None) -> Any:
    if value is None:
        return {}
    if value.startswith("@"):
        return json.loads(Path(value[1:]).read_text())
    return json.loads(value)


def cmd_run(args: argparse.Namespace) -> int:
    from workflows.asl.definition import load_definition
    from workflows.engine.clock import FakeClock, SystemClock
    from workflows.engine.resolvers import CallableResolver, ChainResolver, MockConfigResolver
    from workflows.engine.runner import result_document, run_definition

    try:
        document = json.loads(Path(args.definition).read_text())
    except (OSError, ValueError) as exc:
        print(f"workflows run: cannot read {args.definition}: {exc}", file=sys.stderr)
        return 2
    if isinstance(document, dict) and "definition" in document and "States" not in document:
        # A conformance case file: run its definition with its input unless --input says otherwise.
        if args.input is None:
            args.input = json.dumps(document.get("input", {}))
        document = document["definition"]
    try:
        input_value = _read_json_arg(args.input)
    except (OSError, ValueError) as exc:
        print(f"workflows run: invalid --input: {exc}", file=sys.stderr)
        return 2
    substitutions: dict[str, Any] = {}
    if args.template:
        try:
            substitutions.update(_template_substitutions(args.template, args.definition))
        except (OSError, ValueError) as exc:
            print(f"workflows run: --template {args.template}: {exc}", file=sys.stderr)
            return 2
    substitutions.update(kv.split("=", 1) for kv in args.substitution or [])
    left = sorted(set(_PLACEHOLDER.findall(json.dumps(document))) - set(substitutions))
    if left:
        # An unfilled ${...} would run as its literal text and fail far from the cause.
        shown = ", ".join("${" + name + "}" for name in left[:6]) + (", ..." if len(left) > 6 else "")
        print(
            f"workflows run: {args.definition} has placeholders with no value: {shown}; "
            "give --template template.yaml (its DefinitionSubstitutions) or -s NAME=VALUE",
            file=sys.stderr,
        )
        return 2
    try:
        definition = load_definition(document, substitutions)
    except DefinitionError as exc:
        for diagnostic in exc.diagnostics:
            print(f"{args.definition}: {diagnostic}", file=sys.stderr)
        return 1
    resolver = None
    if args.mock_config:
        if not args.test_case:
            print("workflows run: --mock-config needs --test-case", file=sys.stderr)
            return 2
        try:
            config = json.loads(Path(args.mock_config).read_text())
            mocks = MockConfigResolver(config, args.state_machine, args.test_case)
        except (OSError, ValueError) as exc:
            print(f"workflows run: {exc}", file=sys.stderr)
            return 2
        resolver = ChainResolver(mocks)
    else:
        try:
            functions = dict(_function_binding(spec) for spec in args.function or [])
        except (OSError, ValueError, AttributeError, SyntaxError) as exc:
            print(f"workflows run: --function: {exc}", file=sys.stderr)
            return 2
        resolver = ChainResolver(CallableResolver(functions)) if functions else ChainResolver()
    clock = FakeClock() if args.fake_clock else SystemClock()
    run = run_definition(definition, input_value, resolver=resolver, clock=clock)
    json.dump(result_document(run), sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_:.-]+)\}")


def _template_substitutions(template: str, definition: str) -> dict[str, Any]:
    """The DefinitionSubstitutions of the template's state machine whose DefinitionUri is this file
    (or of its only state machine)."""
    from workflows.local.template import TemplateError, load_template

    try:
        stack = load_template(template)
    except TemplateError as exc:
        raise ValueError(str(exc)) from exc
    machines = list(stack.state_machines.values())
    target = Path(definition).resolve()
    chosen = [m for m in machines if m.definition_uri and Path(m.definition_uri).resolve() == target]
    if not chosen and len(machines) == 1:
        chosen = machines
    if not chosen:
        raise ValueError(f"no state machine in it has DefinitionUri {definition}")
    return dict(chosen[0].substitutions)


def _function_binding(spec: str) -> tuple[str, Any]:
    """`NAME_OR_ARN=FILE.py[:handler]`: a Lambda function backed by a Python handler (default `handler`)."""
    import importlib.util

    name, sep, target = spec.partition("=")
    if not sep or not name or not target:
        raise ValueError(f"expected NAME_OR_ARN=FILE.py[:handler], got {spec!r}")
    path, _, attribute = target.partition(":")
    module_spec = importlib.util.spec_from_file_location(f"workflows_fn_{abs(hash(path))}", path)
    if module_spec is None or module_spec.loader is None:
        raise ValueError(f"cannot load {path}")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return name, getattr(module, attribute or "handler")


def cmd_validate(args: argparse.Namespace) -> int:
    from workflows.asl.validation import main_validate

    return main_validate(args.files)


def cmd_replay(args: argparse.Namespace) -> int:
    from workflows.service.replay import main_replay

    try:
        text = Path(args.definition).read_text(encoding="utf-8")
    except OSError as exc:
        print(f"workflows replay: cannot read {args.definition}: {exc}", file=sys.stderr)
        return 2
    if not (Path(args.data_dir) / "workflows.db").exists():
        print(f"workflows replay: no store in {args.data_dir}", file=sys.stderr)
        return 2
    substitutions: dict[str, Any] = {}
    if "${" in text and Path(args.template).exists():
        # A definitions/ file keeps its placeholders: fill them as SAM (and `workflows dev`) do.
        from workflows.local.template import load_template

        for spec in load_template(args.template).state_machines.values():
            substitutions.update(spec.substitutions)
    substitutions.update(kv.split("=", 1) for kv in args.substitution or [])
    return main_replay(
        args.executions,
        text,
        data_dir=args.data_dir,
        substitutions=substitutions,
        last=args.last,
        machine=args.state_machine or "",
        as_json=args.json,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workflows", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run one execution to its end and print its result as JSON")
    run.add_argument("definition", help="ASL JSON file (or a conformance case file)")
    run.add_argument("--input", help="execution input as JSON, or @FILE")
    run.add_argument("--mock-config", help="Step Functions Local mock configuration file")
    run.add_argument("--test-case", help="test case name in the mock configuration")
    run.add_argument("--state-machine", help="state machine name in the mock configuration")
    run.add_argument("--substitution", "-s", action="append", help="NAME=VALUE for ${NAME} placeholders")
    run.add_argument(
        "--template", help="SAM template whose DefinitionSubstitutions fill the ${NAME} placeholders"
    )
    run.add_argument(
        "--function",
        "-f",
        action="append",
        help="NAME_OR_ARN=FILE.py[:handler]: a Lambda function backed by a Python handler (repeatable)",
    )
    run.add_argument("--fake-clock", action="store_true", help="virtual time: Wait and Retry take no time")
    run.set_defaults(func=cmd_run)

    validate = sub.add_parser("validate", help="validate ASL definitions; exit 1 on any error")
    validate.add_argument("files", nargs="+")
    validate.set_defaults(func=cmd_validate)

    replay = sub.add_parser(
        "replay",
        help="run past executions against an edited definition, recorded task results as mocks; "
        "exit 1 if any path, output or status would change",
    )
    replay.add_argument("executions", nargs="*", help="execution ARNs or names (from the data dir's store)")
    replay.add_argument("--definition", required=True, help="the edited ASL JSON file")
    replay.add_argument("--last", type=int, default=0, help="also the last N finished executions")
    replay.add_argument("--state-machine", help="with --last: only this state machine's executions (ARN)")
    replay.add_argument("--json", action="store_true", help="print the comparison as JSON")
    replay.add_argument("--data-dir", default=".workflows")
    replay.add_argument("--template", default="template.yaml", help="fills ${...} placeholders")
    replay.add_argument("--substitution", "-s", action="append", help="NAME=VALUE for ${NAME} placeholders")
    replay.set_defaults(func=cmd_replay)

    for extra in _EXTRA_COMMANDS:
        extra(sub)
    return parser


_EXTRA_COMMANDS: list[Any] = []
# Commands of the modules beside the engine, so a missing dependency can be named when one is asked for.
_EXTRA_NAMES = {
    "workflows.local.dev": ("dev", "serve"),
    "workflows.client": ("upload", "executions", "history", "graph"),
    "workflows.testing.stored": ("coverage",),
}


def _register_extras() -> None:
    """Commands that live beside the engine (server, local AWS) add themselves if present."""
    _EXTRA_COMMANDS.clear()  # main() may run more than once in a process (tests call it in process)
    for module, names in _EXTRA_NAMES.items():
        try:
            mod = __import__(module, fromlist=["add_commands"])
        except ImportError as exc:
            _EXTRA_COMMANDS.append(_missing(names, exc))
            continue
        add = getattr(mod, "add_commands", None)
        if add is not None:
            _EXTRA_COMMANDS.append(add)


def _missing(names: tuple[str, ...], exc: ImportError) -> Any:
    """Stand-ins for commands whose module cannot be imported: they say what is missing."""
    missing = (exc.name or "").split(".")[0] or str(exc)  # the package to install, not its module

    def add(sub: Any) -> None:
        for name in names:
            stub = sub.add_parser(name, help=f"(needs {missing}: pip install -e .)", add_help=False)
            stub.add_argument("rest", nargs=argparse.REMAINDER)

            def explain(args: argparse.Namespace, name: str = name) -> int:
                print(
                    f"workflows {name}: needs the Python package {missing!r}, which is not installed; "
                    "run `make dev` or `pip install -e .`",
                    file=sys.stderr,
                )
                return 2

            stub.set_defaults(func=explain)

    return add


def main(argv: list[str] | None = None) -> int:
    _register_extras()
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # argparse would print the top-level usage; the subcommand's says which flags exist.
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        sub.choices[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    from workflows.service.store import StoreError

    try:
        return int(args.func(args) or 0)
    except StoreError as exc:  # the store refused (read-only, corrupt, empty): one line, no traceback
        print(f"workflows: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
