"""template.yaml (SAM) as plain data for the local engine: functions, buckets, topics, queues, rules and
state machines, with CloudFormation intrinsics resolved to deterministic local names and ARNs.

Local names are derived from the stack name and logical id, without CloudFormation's random suffix:
a bucket is `<stack>-<logicalid lowercased>`, everything else `<stack>-<LogicalId>`, unless the template
names the resource itself (BucketName, FunctionName, TopicName, QueueName, Name, StateMachineName).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "BucketSpec",
    "FunctionSpec",
    "KeySpec",
    "QueueSpec",
    "RuleSpec",
    "Stack",
    "StateMachineSpec",
    "SubscriptionSpec",
    "TemplateError",
    "TopicSpec",
    "load_template",
    "load_yaml",
]

DEFAULT_STACK = "workflows-local"
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"
NO_VALUE = object()  # AWS::NoValue: the property is removed


class TemplateError(ValueError):
    """The template uses something this reader cannot resolve (an unknown parameter, resource or function)."""


# ----- YAML with CloudFormation's short-form tags --------------------------------------------------------


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns `!Ref X` into {"Ref": X} and `!Sub ...` into {"Fn::Sub": ...}."""


def _construct_tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_yaml(text: str) -> Any:
    """A CloudFormation/SAM YAML document as JSON-like data (short-form tags become long-form dicts)."""
    return yaml.load(text, Loader=_CfnLoader)  # a SafeLoader subclass: no arbitrary objects


# ----- the plain data --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    code_uri: Path  # absolute: put on sys.path of the function's workers
    handler: str  # module.function, e.g. "validate.app.handler"
    runtime: str
    timeout: int  # seconds
    memory_size: int  # MB
    environment: dict[str, str]
    alias: str | None = None  # SAM AutoPublishAlias

    @property
    def alias_arn(self) -> str | None:
        return f"{self.arn}:{self.alias}" if self.alias else None


@dataclass(frozen=True)
class BucketSpec:
    logical_id: str
    name: str
    arn: str
    versioned: bool = False
    eventbridge: bool = False  # NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled


@dataclass(frozen=True)
class TopicSpec:
    logical_id: str
    name: str
    arn: str
    fifo: bool = False


@dataclass(frozen=True)
class QueueSpec:
    logical_id: str
    name: str
    arn: str
    url: str  # as AWS names it; local endpoints answer to the same queue name
    fifo: bool = False


@dataclass(frozen=True)
class SubscriptionSpec:
    logical_id: str
    topic_arn: str
    protocol: str
    endpoint: str
    raw_message_delivery: bool = False
    filter_policy: dict[str, Any] | None = None
    filter_policy_scope: str = "MessageAttributes"


@dataclass(frozen=True)
class RuleSpec:
    """An EventBridge rule: an AWS::Events::Rule or a SAM function's `EventBridgeRule` event."""

    logical_id: str
    name: str
    pattern: dict[str, Any]
    event_bus: str = "default"
    target_function: str | None = None  # logical id of the function the rule invokes
    dead_letter_arn: str | None = None


@dataclass(frozen=True)
class StateMachineSpec:
    logical_id: str
    name: str
    arn: str
    definition_uri: Path | None
    definition_inline: Any
    substitutions: dict[str, str]
    type: str = "STANDARD"

    def definition_text(self) -> str:
        """The definition with `${Name}` placeholders filled from DefinitionSubstitutions, as SAM does."""
        if self.definition_uri is not None:
            text = self.definition_uri.read_text()
        else:
            text = json.dumps(self.definition_inline)

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            return self.substitutions.get(name, match.group(0))

        return re.sub(r"\$\{([A-Za-z0-9_.]+)\}", fill, text)

    def definition(self) -> Any:
        return json.loads(self.definition_text())


@dataclass(frozen=True)
class KeySpec:
    logical_id: str
    key_id: str  # a deterministic stand-in; a provisioned local key gets its own id
    arn: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Stack:
    stack_name: str
    region: str
    account: str
    root: Path
    parameters: dict[str, Any]
    conditions: dict[str, bool]
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    buckets: dict[str, BucketSpec] = field(default_factory=dict)
    topics: dict[str, TopicSpec] = field(default_factory=dict)
    queues: dict[str, QueueSpec] = field(default_factory=dict)
    subscriptions: dict[str, SubscriptionSpec] = field(default_factory=dict)
    rules: dict[str, RuleSpec] = field(default_factory=dict)
    state_machines: dict[str, StateMachineSpec] = field(default_factory=dict)
    keys: dict[str, KeySpec] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)

    def function_for(self, arn_or_name: str) -> FunctionSpec | None:
        """The function behind a Lambda ARN (with or without qualifier) or a function name."""
        parts = arn_or_name.split(":")
        name = parts[6] if len(parts) >= 7 and parts[5] == "function" else arn_or_name
        for fn in self.functions.values():
            if name in (fn.name, fn.logical_id):
                return fn
        return None

    def buckets_with_eventbridge(self) -> list[BucketSpec]:
        return [b for b in self.buckets.values() if b.eventbridge]


# ----- reading ---------------------------------------------------------------------------------------------


def load_template(
    path: str | Path = "template.yaml",
    *,
    stack_name: str = DEFAULT_STACK,
    parameters: Mapping[str, Any] | None = None,
    region: str = DEFAULT_REGION,
    account: str = DEFAULT_ACCOUNT,
) -> Stack:
    """Read a SAM template into a Stack; `parameters` override the template's defaults."""
    path = Path(path).resolve()
    doc = load_yaml(path.read_text())
    return _Reader(doc, path.parent, stack_name, dict(parameters or {}), region, account).read()


_PSEUDO = (
    "AWS::Region",
    "AWS::AccountId",
    "AWS::StackName",
    "AWS::Partition",
    "AWS::URLSuffix",
    "AWS::StackId",
)


class _Reader:
    def __init__(
        self,
        doc: dict[str, Any],
        root: Path,
        stack: str,
        overrides: dict[str, Any],
        region: str,
        account: str,
    ) -> None:
        self.doc = doc
        self.root = root
        self.stack = stack
        self.region = region
        self.account = account
        self.resources: dict[str, dict[str, Any]] = doc.get("Resources") or {}
        self.globals: dict[str, Any] = (doc.get("Globals") or {}).get("Function") or {}
        self.params = self._parameters(doc.get("Parameters") or {}, overrides)
        self.pseudo = {
            "AWS::Region": region,
            "AWS::AccountId": account,
            "AWS::StackName": stack,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{account}:stack/{stack}/"
            + str(uuid.uuid5(uuid.NAMESPACE_URL, stack)),
        }
        self.conditions: dict[str, bool] = {}
        self._raw_conditions: dict[str, Any] = doc.get("Conditions") or {}
        for name in self._raw_conditions:
            self.condition(name)

    # ----- parameters and conditions -----

    @staticmethod
    def _parameters(declared: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
        unknown = set(overrides) - set(declared)
        if unknown:
            raise TemplateError(f"unknown parameters: {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for name, spec in declared.items():
            value = overrides.get(name, spec.get("Default"))
            if value is None:
                raise TemplateError(f"parameter {name} has no default; pass a value")
            kind = spec.get("Type", "String")
            if kind == "CommaDelimitedList" or kind.startswith("List<"):
                if isinstance(value, str):
                    value = [v.strip() for v in value.split(",")] if value != "" else [""]
                values[name] = [str(v) for v in value]
                continue
            value = str(value) if not isinstance(value, bool) else str(value).lower()
            allowed = spec.get("AllowedValues")
            if allowed is not None and value not in [str(a) for a in allowed]:
                raise TemplateError(f"parameter {name}={value!r} is not one of {allowed}")
            values[name] = value
        return values

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            if name not in self._raw_conditions:
                raise TemplateError(f"unknown condition {name}")
            self.conditions[name] = bool(self.resolve(self._raw_conditions[name]))
        return self.conditions[name]

    # ----- local names -----

    def explicit_name(self, logical_id: str) -> str | None:
        props = self.resources[logical_id].get("Properties") or {}
        for key in ("BucketName", "FunctionName", "TopicName", "QueueName", "StateMachineName", "Name"):
            if key in props:
                value = self.resolve(props[key])
                if isinstance(value, str) and value:
                    return value
        return None

    def name_of(self, logical_id: str) -> str:
        explicit = self.explicit_name(logical_id)
        if explicit:
            return explicit
        kind = self.resources[logical_id].get("Type", "")
        if kind == "AWS::S3::Bucket":
            return f"{self.stack}-{logical_id}".lower()[:63]
        name = f"{self.stack}-{logical_id}"
        props = self.resources[logical_id].get("Properties") or {}
        if (
            kind in ("AWS::SQS::Queue", "AWS::SNS::Topic")
            and str(props.get("FifoQueue", props.get("FifoTopic"))).lower() == "true"
        ):
            name += ".fifo"
        return name

    def key_id(self, logical_id: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.stack}/{logical_id}"))

    def arn_of(self, logical_id: str) -> str:
        kind = self.resources[logical_id].get("Type", "")
        name = self.name_of(logical_id)
        r, a = self.region, self.account
        if kind == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{name}"
        if kind in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            return f"arn:aws:lambda:{r}:{a}:function:{name}"
        if kind == "AWS::SNS::Topic":
            return f"arn:aws:sns:{r}:{a}:{name}"
        if kind == "AWS::SQS::Queue":
            return f"arn:aws:sqs:{r}:{a}:{name}"
        if kind in ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"):
            return f"arn:aws:states:{r}:{a}:stateMachine:{name}"
        if kind == "AWS::KMS::Key":
            return f"arn:aws:kms:{r}:{a}:key/{self.key_id(logical_id)}"
        if kind == "AWS::Logs::LogGroup":
            return f"arn:aws:logs:{r}:{a}:log-group:{self.log_group_name(logical_id)}:*"
        if kind == "AWS::Events::Rule":
            return f"arn:aws:events:{r}:{a}:rule/{name}"
        if kind == "AWS::IAM::Role":
            return f"arn:aws:iam::{a}:role/{name}"
        return f"arn:aws:cloudformation:{r}:{a}:{kind.replace('::', '-').lower()}/{name}"

    def log_group_name(self, logical_id: str) -> str:
        props = self.resources[logical_id].get("Properties") or {}
        if "LogGroupName" in props:
            return str(self.resolve(props["LogGroupName"]))
        return f"{self.stack}-{logical_id}"

    def queue_url(self, logical_id: str) -> str:
        return f"https://sqs.{self.region}.amazonaws.com/{self.account}/{self.name_of(logical_id)}"

    def ref(self, target: str) -> Any:
        if target in self.params:
            return self.params[target]
        if target == "AWS::NoValue":
            return NO_VALUE
        if target in self.pseudo:
            return self.pseudo[target]
        if target.endswith(".Alias") and target[: -len(".Alias")] in self.resources:
            fn = target[: -len(".Alias")]
            return f"{self.arn_of(fn)}:{self.function_alias(fn) or '$LATEST'}"
        if target not in self.resources:
            raise TemplateError(f"!Ref to unknown {target}")
        kind = self.resources[target].get("Type", "")
        if kind in ("AWS::SNS::Topic", "AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"):
            return self.arn_of(target)
        if kind == "AWS::SNS::Subscription":
            return f"{self.arn_of(target)}"
        if kind == "AWS::SQS::Queue":
            return self.queue_url(target)
        if kind == "AWS::KMS::Key":
            return self.key_id(target)
        if kind == "AWS::Logs::LogGroup":
            return self.log_group_name(target)
        if kind == "AWS::KMS::Alias":
            return str(self.resolve((self.resources[target].get("Properties") or {}).get("AliasName")))
        return self.name_of(target)

    def get_att(self, target: str, attribute: str) -> Any:
        if target not in self.resources:
            raise TemplateError(f"!GetAtt of unknown {target}")
        kind = self.resources[target].get("Type", "")
        name = self.name_of(target)
        if attribute == "Arn":
            return self.arn_of(target)
        if attribute in ("Name", "TopicName", "QueueName"):
            return name
        if attribute == "QueueUrl":
            return self.queue_url(target)
        if attribute == "KeyId":
            return self.key_id(target)
        if kind == "AWS::S3::Bucket" and attribute in ("DomainName", "RegionalDomainName"):
            region = "" if attribute == "DomainName" else f".{self.region}"
            return f"{name}.s3{region}.amazonaws.com"
        if kind == "AWS::S3::Bucket" and attribute == "WebsiteURL":
            return f"http://{name}.s3-website-{self.region}.amazonaws.com"
        raise TemplateError(f"!GetAtt {target}.{attribute} is not supported locally")

    def function_alias(self, logical_id: str) -> str | None:
        props = self.resources[logical_id].get("Properties") or {}
        alias = props.get("AutoPublishAlias", self.globals.get("AutoPublishAlias"))
        return str(self.resolve(alias)) if alias else None

    # ----- intrinsic functions -----

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.resolve(v) for v in node]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(str(arg))
            if key == "Condition" and isinstance(arg, str):
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self._function(key[4:], arg)
        out = {}
        for k, v in node.items():
            value = self.resolve(v)
            if value is not NO_VALUE:
                out[k] = value
        return out

    def _function(self, name: str, arg: Any) -> Any:
        if name == "GetAtt":
            target, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
            return self.get_att(str(self.resolve(target)), str(self.resolve(attribute)))
        if name == "Sub":
            template, variables = (arg[0], self.resolve(arg[1])) if isinstance(arg, list) else (arg, {})
            return self._sub(str(template), variables)
        if name == "Join":
            sep, values = arg
            return str(self.resolve(sep)).join(str(v) for v in self._flat(self.resolve(values)))
        if name == "If":
            cond, then, otherwise = arg
            return self.resolve(then if self.condition(str(cond)) else otherwise)
        if name == "Equals":
            a, b = (self.resolve(x) for x in arg)
            return str(a) == str(b) if not isinstance(a, list | dict) else a == b
        if name == "Not":
            return not self._bool(arg[0])
        if name == "And":
            return all(self._bool(x) for x in arg)
        if name == "Or":
            return any(self._bool(x) for x in arg)
        if name == "Select":
            index, values = self.resolve(arg[0]), self.resolve(arg[1])
            return values[int(index)]
        if name == "Split":
            sep, text = self.resolve(arg[0]), self.resolve(arg[1])
            return str(text).split(str(sep))
        if name == "FindInMap":
            mapping, top, second = (self.resolve(x) for x in arg[:3])
            return self.doc["Mappings"][mapping][top][second]
        if name == "Base64":
            import base64

            return base64.b64encode(str(self.resolve(arg)).encode()).decode()
        if name == "GetAZs":
            return [f"{self.region}{s}" for s in "abc"]
        if name == "ToJsonString":
            return json.dumps(self.resolve(arg), separators=(",", ":"))
        raise TemplateError(f"Fn::{name} is not supported")

    def _bool(self, node: Any) -> bool:
        value = self.resolve(node)
        if isinstance(value, str):
            return value.lower() == "true"
        return bool(value)

    @staticmethod
    def _flat(value: Any) -> list[Any]:
        if isinstance(value, list):
            return [x for v in value for x in _Reader._flat(v)]
        return [value]

    def _sub(self, template: str, variables: dict[str, Any]) -> str:
        def fill(match: re.Match[str]) -> str:
            expr = match.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"  # ${!Literal}
            if expr in variables:
                return str(variables[expr])
            if "." in expr and expr.split(".", 1)[0] in self.resources and not expr.endswith(".Alias"):
                target, attribute = expr.split(".", 1)
                return str(self.get_att(target, attribute))
            value = self.ref(expr)
            return ",".join(value) if isinstance(value, list) else str(value)

        return re.sub(r"\$\{([^}]+)\}", fill, template)

    # ----- resources -----

    def read(self) -> Stack:
        stack = Stack(
            stack_name=self.stack,
            region=self.region,
            account=self.account,
            root=self.root,
            parameters=dict(self.params),
            conditions=dict(self.conditions),
        )
        for logical_id, resource in self.resources.items():
            if "Condition" in resource and not self.condition(resource["Condition"]):
                continue
            kind = resource.get("Type", "")
            props = resource.get("Properties") or {}
            reader = getattr(self, "_read_" + kind.replace("::", "_"), None)
            if reader is not None:
                reader(stack, logical_id, props)
        for name, output in (self.doc.get("Outputs") or {}).items():
            if "Condition" in output and not self.condition(output["Condition"]):
                continue
            stack.outputs[name] = self.resolve(output.get("Value"))
        return stack

    def _read_AWS_S3_Bucket(self, stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
        props = self.resolve(props)
        versioning = (props.get("VersioningConfiguration") or {}).get("Status") == "Enabled"
        notify = (props.get("NotificationConfiguration") or {}).get("EventBridgeConfiguration") or {}
        eventbridge = str(notify.get("EventBridgeEnabled", "false")).lower() == "true"
        stack.buckets[logical_id] = BucketSpec(
            logical_id, self.name_of(logical_id), self.arn_of(logical_id), versioning, eventbridge
        )

    def _read_AWS_SNS_Topic(self, stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
        fifo = str(self.resolve(props.get("FifoTopic", False))).lower() == "true"
        stack.topics[logical_id] = TopicSpec(
            logical_id, self.name_of(logical_id), self.arn_of(logical_id), fifo
        )

    def _read_AWS_SQS_Queue(self, stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
        fifo = str(self.resolve(props.get("FifoQueue", False))).lower() == "true"
        stack.queues[logical_id] = QueueSpec(
            logical_id, self.name_of(logical_id), self.arn_of(logical_id), self.queue_url(logical_id), fifo
        )

    def _read_AWS_SNS_Subscription(self, stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
        props = self.resolve(props)
        stack.subscriptions[logical_id] = SubscriptionSpec(
            logical_id=logical_id,
            topic_arn=str(props["TopicArn"]),
            protocol=str(props["Protocol"]),
            endpoint=str(props.get("Endpoint", "")),
            raw_message_delivery=str(props.get("RawMessageDelivery", "false")).lower() == "true",
            filter_policy=props.get("FilterPolicy"),
            filter_policy_scope=str(props.get("FilterPolicyScope", "MessageAttributes")),
        )

    def _read_AWS_KMS_Key(self, stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
        aliases = tuple(
            str(self.resolve((r.get("Properties") or {}).get("AliasName")))
            for r in self.resources.values()
            if r.get("Type") == "AWS::KMS::Alias"
            and (r.get("Properties") or {}).get("TargetKeyId") == {"Ref": logical_id}
        )
        stack.keys[logical_id] = KeySpec(
            logical_id, self.key_id(logical_id), self.arn_of(logical_id), aliases
        )

    def _read_AWS_Events_Rule(self, stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
        props = self.resolve(props)
        if "EventPattern" not in props:
            return  # scheduled rules are not part of the local world
        stack.rules[logical_id] = RuleSpec(
            logical_id,
            self.name_of(logical_id),
            props["EventPattern"],
            str(props.get("EventBusName", "default")),
        )

    def _read_AWS_Serverless_Function(self, stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
        def prop(key: str, default: Any = None) -> Any:
            value = props.get(key, self.globals.get(key, default))
            return self.resolve(value)

        code_uri = prop("CodeUri")
        if not isinstance(code_uri, str):
            raise TemplateError(f"{logical_id}: CodeUri must be a local folder")
        env: dict[str, str] = {}
        for source in (self.globals.get("Environment"), props.get("Environment")):
            variables = (self.resolve(source or {}) or {}).get("Variables") or {}
            env.update({k: _env_str(v) for k, v in variables.items()})
        name = self.name_of(logical_id)
        stack.functions[logical_id] = FunctionSpec(
            logical_id=logical_id,
            name=name,
            arn=self.arn_of(logical_id),
            code_uri=(self.root / code_uri).resolve(),
            handler=str(prop("Handler")),
            runtime=str(prop("Runtime", "python3.11")),
            timeout=int(prop("Timeout", 3)),
            memory_size=int(prop("MemorySize", 128)),
            environment=env,
            alias=self.function_alias(logical_id),
        )
        for event_id, event in (props.get("Events") or {}).items():
            if event.get("Type") not in ("EventBridgeRule", "CloudWatchEvent"):
                continue
            eprops = self.resolve(event.get("Properties") or {})
            if "Pattern" not in eprops:
                continue
            rule_id = f"{logical_id}{event_id}"
            dlq = (eprops.get("DeadLetterConfig") or {}).get("Arn")
            stack.rules[rule_id] = RuleSpec(
                logical_id=rule_id,
                name=str(eprops.get("RuleName") or f"{self.stack}-{rule_id}"),
                pattern=eprops["Pattern"],
                event_bus=str(eprops.get("EventBusName", "default")),
                target_function=logical_id,
                dead_letter_arn=str(dlq) if dlq else None,
            )

    _read_AWS_Lambda_Function = None  # plain Lambda functions have no local CodeUri

    def _read_AWS_Serverless_StateMachine(self, stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
        uri = props.get("DefinitionUri")
        substitutions = {
            k: _env_str(v) for k, v in (self.resolve(props.get("DefinitionSubstitutions")) or {}).items()
        }
        stack.state_machines[logical_id] = StateMachineSpec(
            logical_id=logical_id,
            name=self.name_of(logical_id),
            arn=self.arn_of(logical_id),
            definition_uri=(self.root / str(self.resolve(uri))).resolve()
            if isinstance(uri, str) and uri
            else None,
            definition_inline=self.resolve(props.get("Definition")),
            substitutions=substitutions,
            type=str(self.resolve(props.get("Type", "STANDARD"))),
        )


def _env_str(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)
