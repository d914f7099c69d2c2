"""Resolves CloudFormation intrinsics and conditions to stand-ins for one machine.

Supported: `Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`, `Fn::If`, `Fn::Length` (AWS::LanguageExtensions)
and the condition functions (`Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or`, `Condition`); any other `Fn::`
is a TemplateError.

Locally there is no stack: `!Ref Param` becomes the parameter's Default (or an override), `!Ref Resource`
becomes the resource's logical id (the local adapters find tables and queues by logical id) and
`!GetAtt X.Arn` becomes a fake but well-formed ARN in a fixed fake account, so code that parses ARNs
still works.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

LOCAL_REGION = "us-east-1"
LOCAL_ACCOUNT = "000000000000"
LOCAL_STACK = "wagate-local"

_PSEUDO_PARAMETERS: dict[str, str] = {
    "AWS::Region": LOCAL_REGION,
    "AWS::AccountId": LOCAL_ACCOUNT,
    "AWS::Partition": "aws",
    "AWS::StackName": LOCAL_STACK,
    "AWS::StackId": (
        f"arn:aws:cloudformation:{LOCAL_REGION}:{LOCAL_ACCOUNT}:stack/{LOCAL_STACK}/"
        "00000000-0000-0000-0000-000000000000"
    ),
    "AWS::URLSuffix": "amazonaws.com",
}

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_CONDITION_FUNCTIONS = {"Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or"}


class TemplateError(ValueError):
    """template.yaml uses something the local runner cannot run; the message says what and where."""


class NoValue:
    """`AWS::NoValue`: the property it is assigned to is dropped."""


NO_VALUE = NoValue()


def function_arn(logical_id: str) -> str:
    return f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT}:function:{logical_id}"


def queue_arn(queue_name: str) -> str:
    return f"arn:aws:sqs:{LOCAL_REGION}:{LOCAL_ACCOUNT}:{queue_name}"


def function_id_from_arn(arn: str) -> str | None:
    """The function name inside a Lambda ARN or an API Gateway integration URI."""
    match = re.search(r":function:([A-Za-z0-9_-]+)", arn)
    return match.group(1) if match else None


class Resolver:
    """Evaluates intrinsics against one template's parameters and resources."""

    def __init__(
        self,
        parameters: Mapping[str, Any],
        resources: Mapping[str, Mapping[str, Any]],
        overrides: Mapping[str, str] | None = None,
        conditions: Mapping[str, Any] | None = None,
    ) -> None:
        self._parameters = parameters
        self._resources = resources
        self._overrides = dict(overrides or {})
        self._conditions = conditions or {}
        self._evaluating: set[str] = set()

    def resolve(self, value: Any, where: str) -> Any:
        """The value with every intrinsic evaluated. Raises TemplateError naming `where`."""
        if isinstance(value, Mapping):
            if len(value) == 1:
                (key, argument), *_ = value.items()
                if key == "Ref":
                    return self.ref(str(argument), where)
                if key == "Fn::GetAtt":
                    return self._get_att(argument, where)
                if key == "Fn::Sub":
                    return self._sub(argument, where)
                if key == "Fn::Join":
                    return self._join(argument, where)
                if key == "Fn::If":
                    return self._if(argument, where)
                if key == "Fn::Length":
                    return self._length(argument, where)
                if key in _CONDITION_FUNCTIONS:
                    return self._truth(value, where)
                if str(key).startswith("Fn::"):
                    raise TemplateError(f"{where}: {key} is not supported by the local runner")
            resolved = {str(k): self.resolve(v, f"{where}.{k}") for k, v in value.items()}
            return {k: v for k, v in resolved.items() if v is not NO_VALUE}
        if isinstance(value, list):
            items = [self.resolve(v, f"{where}[{i}]") for i, v in enumerate(value)]
            return [v for v in items if v is not NO_VALUE]
        if isinstance(value, str):
            return str(value)  # cfn-lint's str nodes → plain str
        return value

    def condition(self, name: str, where: str) -> bool:
        """Evaluate a named entry of the Conditions section. Raises TemplateError."""
        if name not in self._conditions:
            raise TemplateError(f"{where}: no condition named {name}")
        if name in self._evaluating:
            raise TemplateError(f"{where}: condition {name} refers to itself")
        self._evaluating.add(name)
        try:
            return self._truth(self._conditions[name], f"Conditions.{name}")
        finally:
            self._evaluating.discard(name)

    def _truth(self, value: Any, where: str) -> bool:
        if isinstance(value, Mapping) and len(value) == 1:
            (key, argument), *_ = value.items()
            if key == "Condition":
                return self.condition(str(argument), where)
            if key == "Fn::Equals" and isinstance(argument, list) and len(argument) == 2:
                left, right = (_scalar_text(self.resolve(a, where)) for a in argument)
                return left == right
            if key == "Fn::Not" and isinstance(argument, list) and len(argument) == 1:
                return not self._truth(argument[0], where)
            if key == "Fn::And" and isinstance(argument, list):
                return all(self._truth(a, where) for a in argument)
            if key == "Fn::Or" and isinstance(argument, list):
                return any(self._truth(a, where) for a in argument)
        raise TemplateError(f"{where}: {value!r} is not a condition the local runner can evaluate")

    def _if(self, argument: Any, where: str) -> Any:
        if not (isinstance(argument, list) and len(argument) == 3):
            raise TemplateError(f"{where}: malformed Fn::If {argument!r}")
        chosen = argument[1] if self.condition(str(argument[0]), where) else argument[2]
        return self.resolve(chosen, where)

    def ref(self, name: str, where: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in _PSEUDO_PARAMETERS:
            return _PSEUDO_PARAMETERS[name]
        parameter = self._parameters.get(name)
        kind = str(parameter.get("Type", "String")) if isinstance(parameter, Mapping) else "String"
        listed = kind == "CommaDelimitedList" or kind.startswith("List<")
        if name in self._overrides:
            value = self._overrides[name]
            return [v.strip() for v in value.split(",")] if listed else value
        if parameter is not None:
            if "Default" not in parameter:
                raise TemplateError(f"{where}: parameter {name} has no Default; pass it as an override")
            default = parameter["Default"]
            if listed:
                return [v.strip() for v in _scalar_text(default).split(",")]
            return default if isinstance(default, str) else _scalar_text(default)
        if name in self._resources:
            return name
        raise TemplateError(f"{where}: !Ref {name} names no parameter or resource")

    def get_att(self, logical_id: str, attribute: str, where: str) -> str:
        resource = self._resources.get(logical_id)
        if resource is None:
            raise TemplateError(f"{where}: !GetAtt {logical_id}.{attribute} names no resource")
        kind = str(resource.get("Type", ""))
        properties = resource.get("Properties") or {}
        if kind == "AWS::SQS::Queue":
            naming = {k: v for k, v in properties.items() if k in ("QueueName", "FifoQueue")}
            name = local_queue_name(logical_id, self.resolve(naming, where))
            if attribute == "Arn":
                return queue_arn(name)
            if attribute == "QueueName":
                return name
            if attribute == "QueueUrl":
                return f"https://sqs.{LOCAL_REGION}.amazonaws.com/{LOCAL_ACCOUNT}/{name}"
        if attribute == "Arn" or attribute.endswith("Arn"):
            return _fake_arn(kind, logical_id, attribute)
        if attribute == "ApiEndpoint":
            return f"https://{logical_id.lower()}.execute-api.{LOCAL_REGION}.amazonaws.com"
        if attribute in ("Name", "TableName", "KeyId", "ApiId"):
            return logical_id
        raise TemplateError(f"{where}: !GetAtt {logical_id}.{attribute} has no local stand-in")

    def _get_att(self, argument: Any, where: str) -> str:
        if isinstance(argument, str):
            logical_id, _, attribute = argument.partition(".")
        elif isinstance(argument, list) and len(argument) == 2:
            logical_id, attribute = (str(self.resolve(a, where)) for a in argument)
        else:
            raise TemplateError(f"{where}: malformed Fn::GetAtt {argument!r}")
        return self.get_att(logical_id, attribute, where)

    def _sub(self, argument: Any, where: str) -> str:
        if isinstance(argument, list) and len(argument) == 2:
            text, variables = str(argument[0]), dict(self.resolve(argument[1], where))
        elif isinstance(argument, str):
            text, variables = argument, {}
        else:
            raise TemplateError(f"{where}: malformed Fn::Sub {argument!r}")

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"  # `${!Literal}` is an escaped, literal `${Literal}`
            if name in variables:
                return _scalar_text(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, _, attribute = name.partition(".")
                return self.get_att(logical_id, attribute, where)
            value = self.ref(name, where)
            if value is NO_VALUE:
                raise TemplateError(f"{where}: AWS::NoValue cannot be substituted")
            return _scalar_text(value)

        return _SUB_VARIABLE.sub(replace, text)

    def _length(self, argument: Any, where: str) -> int:
        items = self.resolve(argument, where)
        if not isinstance(items, list):
            raise TemplateError(f"{where}: Fn::Length needs a list")
        return len(items)

    def _join(self, argument: Any, where: str) -> str:
        if not (isinstance(argument, list) and len(argument) == 2):
            raise TemplateError(f"{where}: malformed Fn::Join {argument!r}")
        parts = self.resolve(argument[1], where)
        if not isinstance(parts, list):
            raise TemplateError(f"{where}: Fn::Join needs a list")
        return str(argument[0]).join(_scalar_text(p) for p in parts)


def local_queue_name(logical_id: str, properties: Mapping[str, Any]) -> str:
    """The queue's name as SQS would show it: QueueName if given, else the logical id (+ .fifo)."""
    explicit = properties.get("QueueName")
    if isinstance(explicit, str):
        return explicit
    fifo = as_bool(properties.get("FifoQueue", False))
    return f"{logical_id}.fifo" if fifo else logical_id


def as_bool(value: Any) -> bool:
    """CloudFormation accepts true/false as booleans or as strings."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _fake_arn(kind: str, logical_id: str, attribute: str) -> str:
    region, account = LOCAL_REGION, LOCAL_ACCOUNT
    if kind in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
        return function_arn(logical_id)
    if kind == "AWS::DynamoDB::Table":
        suffix = "/stream/local" if attribute == "StreamArn" else ""
        return f"arn:aws:dynamodb:{region}:{account}:table/{logical_id}{suffix}"
    if kind == "AWS::KMS::Key":
        return f"arn:aws:kms:{region}:{account}:key/{logical_id}"
    if kind == "AWS::IAM::Role":
        return f"arn:aws:iam::{account}:role/{logical_id}"
    service = kind.split("::")[1].lower() if kind.count("::") >= 2 else "local"
    return f"arn:aws:{service}:{region}:{account}:{logical_id}"


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_scalar_text(v) for v in value)
    return str(value)
