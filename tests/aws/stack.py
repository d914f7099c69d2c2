"""Deploys template.yaml into a moto server the way CloudFormation would, for the AWS-mode end-to-end test.

The template goes through the real SAM translator (`samtranslator`, the library `sam build`/CloudFormation
use), after `Fn::ForEach` is expanded as the AWS::LanguageExtensions transform does. From the translated
template this module creates the resources the functions touch (DynamoDB tables, SQS queues with their
redrive policies, the KMS key, the sweeper's EventBridge Scheduler schedule) and every IAM role with the
policies SAM generated for it, then resolves each function's environment with the physical names.

Two copies of each role's policy exist:
  * `policies[role]`: the translated document with every intrinsic resolved: what AWS would evaluate.
    `tests/aws/recorder.py` checks every call of a process against it (action AND resource).
  * the copy given to moto (`_moto_document`): moto checks resources only for SQS (and IAM/STS/S3);
    for DynamoDB, KMS and execute-api it asks about resource `*`, which no resource-scoped statement
    matches, so those statements get `Resource: *` there (action-level enforcement by moto, resource-level
    by the recorder). Statements with a Condition are left out of moto's copy: moto turns an Allow whose
    condition does not hold into a Deny of the call. Moto also names some actions after the API call rather
    than the IAM action (`execute-api:PostToConnection` for `ManageConnections`, `sqs:DeleteMessageBatch`
    for `DeleteMessage`, `dynamodb:TransactWriteItems` for the per-item actions): the copy grants those
    aliases where the real action is granted, and the recorder checks the real action. Moto asks about `*` for
    sqs:GetQueueUrl (it reads the queue from a QueueUrl the call does not have), so that action gets a
    `Resource: *` statement there too.
"""

from __future__ import annotations

import copy
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from cfnlint.decode import cfn_yaml

from local.intrinsics import Resolver
from local.language_extensions import expand_for_each

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
STACK = "wagate-e2e"
SOCKET_STAGE = "live"

# Parameters a deployment must give (no Default); the connector is deployed (its task role is wanted).
PARAMETERS = {
    "ConnectorImage": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/wagate-connector:e2e",
    "VpcId": "vpc-0e2e0e2e",
    "SubnetIds": "subnet-0e2e0e2e",
}

# AWS managed policies SAM attaches (their documents as AWS publishes them; moto does not load them by
# default). Only the statements that matter to these functions are listed.
MANAGED_POLICIES: dict[str, list[dict[str, Any]]] = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        }
    ],
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": [
        {
            "Effect": "Allow",
            "Action": [
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "xray:GetSamplingRules",
                "xray:GetSamplingTargets",
                "xray:GetSamplingStatisticSummaries",
            ],
            "Resource": "*",
        }
    ],
    "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole": [
        {
            "Effect": "Allow",
            "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        },
    ],
}

# Moto's action names where they differ from IAM's (see the module docstring): real action → aliases.
_MOTO_ALIASES = {
    "execute-api:manageconnections": [
        "execute-api:PostToConnection",
        "execute-api:GetConnection",
        "execute-api:DeleteConnection",
    ],
    "sqs:deletemessage": ["sqs:DeleteMessageBatch"],
    "sqs:changemessagevisibility": ["sqs:ChangeMessageVisibilityBatch"],
    "sqs:sendmessage": ["sqs:SendMessageBatch"],
    "dynamodb:putitem": ["dynamodb:TransactWriteItems"],
    "dynamodb:getitem": ["dynamodb:TransactGetItems"],
}
# Services whose calls moto authorizes against a real resource ARN; the others are asked about `*`.
_MOTO_RESOURCE_SERVICES = ("sqs:", "iam:", "sts:", "s3:")


def translate(template: Path = TEMPLATE) -> dict[str, Any]:
    """template.yaml through Fn::ForEach expansion and the SAM transform, as CloudFormation runs them."""
    from samtranslator.translator.transform import transform

    document = json.loads(json.dumps(cfn_yaml.load(str(template))))
    document["Resources"] = expand_for_each(document["Resources"], document.get("Parameters"))
    document["Transform"] = "AWS::Serverless-2016-10-31"
    for logical_id, resource in document["Resources"].items():
        properties = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):  # what `sam package` does: code goes to S3 first
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://{STACK}-artifacts/{logical_id}.zip"

    class NoManagedPolicyLookups:
        def load(self) -> dict[str, str]:
            return {}

    region = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = REGION  # the translator asks boto3 for the region
    try:
        translated: dict[str, Any] = transform(document, dict(PARAMETERS), NoManagedPolicyLookups())
    finally:
        if region is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)
        else:
            os.environ["AWS_DEFAULT_REGION"] = region
    return translated


class StackResolver(Resolver):
    """Intrinsics resolved to the physical resources created in moto (not the local runner's stand-ins)."""

    def __init__(self, document: Mapping[str, Any], physical: Mapping[str, str], attributes: Any) -> None:
        super().__init__(
            document.get("Parameters") or {},
            document["Resources"],
            PARAMETERS,
            document.get("Conditions") or {},
        )
        self._physical = physical
        self._attributes = attributes

    def ref(self, name: str, where: str) -> Any:
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::StackName": STACK,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self._physical:
            return self._physical[name]
        return super().ref(name, where)

    def get_att(self, logical_id: str, attribute: str, where: str) -> str:
        value = self._attributes(logical_id, attribute)
        return value if value is not None else super().get_att(logical_id, attribute, where)


@dataclass
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def env(self) -> dict[str, str]:
        values = {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}
        if self.session_token:
            values["AWS_SESSION_TOKEN"] = self.session_token
        return values


@dataclass
class Stack:
    endpoint: str
    document: dict[str, Any]
    physical: dict[str, str]  # logical id → physical id (table name, queue URL, key id, role name...)
    queue_names: dict[str, str]
    table_names: dict[str, str]
    key_arn: str
    socket_api_id: str
    policies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # role → resolved statements
    credentials: dict[str, Credentials] = field(default_factory=dict)  # role → assumed-role credentials
    function_roles: dict[str, str] = field(default_factory=dict)  # function logical id → role logical id
    resolver: StackResolver | None = None
    schedules: list[dict[str, Any]] = field(default_factory=list)  # as EventBridge Scheduler holds them

    def queue_arn(self, logical_id: str) -> str:
        return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{self.queue_names[logical_id]}"

    def queue_url(self, logical_id: str) -> str:
        return self.physical[logical_id]

    def function_environment(self, function_id: str) -> dict[str, str]:
        """Globals.Function + the function's own Environment, as Lambda would set them."""
        assert self.resolver is not None
        resource = self.document["Resources"][function_id]
        variables = dict((resource["Properties"].get("Environment") or {}).get("Variables") or {})
        resolved = self.resolver.resolve(variables, f"{function_id}.Environment")
        return {str(k): _text(v) for k, v in resolved.items()}

    def connector_environment(self) -> dict[str, str]:
        """The connector container's Environment from the task definition."""
        assert self.resolver is not None
        task = self.document["Resources"]["ConnectorTaskDefinition"]["Properties"]
        container = task["ContainerDefinitions"][0]
        pairs = self.resolver.resolve(container.get("Environment") or [], "ConnectorTaskDefinition")
        return {str(p["Name"]): _text(p["Value"]) for p in pairs}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def admin_client(service: str, endpoint: str, credentials: Credentials | None = None) -> Any:
    creds = credentials or Credentials("AKIAE2EROOTADMIN0000", "e2e-admin-secret")
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        aws_session_token=creds.session_token,
    )


def deploy(endpoint: str) -> Stack:
    """Create the stack's resources and roles in the moto server at `endpoint` (IAM not yet enforced)."""
    document = translate()
    resources: dict[str, Any] = document["Resources"]
    physical: dict[str, str] = {}
    table_names: dict[str, str] = {}
    queue_names: dict[str, str] = {}
    suffix = secrets.token_hex(4).upper()

    kms = admin_client("kms", endpoint)
    key = kms.create_key(Description=resources["SecretsKey"]["Properties"]["Description"])["KeyMetadata"]
    physical["SecretsKey"] = key["KeyId"]
    key_arn = key["Arn"]
    socket_api_id = "e2e" + secrets.token_hex(4)
    physical["DashboardSocket"] = socket_api_id

    def attributes(logical_id: str, attribute: str) -> str | None:
        kind = resources.get(logical_id, {}).get("Type")
        if kind == "AWS::SQS::Queue":
            if attribute == "Arn":
                return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue_names[logical_id]}"
            if attribute == "QueueName":
                return queue_names[logical_id]
        if kind == "AWS::DynamoDB::Table" and attribute == "Arn":
            return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table_names[logical_id]}"
        if kind == "AWS::S3::Bucket" and attribute == "Arn":
            return f"arn:aws:s3:::{physical[logical_id]}"
        if kind == "AWS::KMS::Key" and attribute == "Arn":
            return key_arn
        if kind == "AWS::Lambda::Function" and attribute == "Arn":
            return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{STACK}-{logical_id}-{suffix}"
        if kind == "AWS::IAM::Role" and attribute == "Arn":
            return f"arn:aws:iam::{ACCOUNT}:role/{STACK}-{logical_id}-{suffix}"
        return None

    resolver = StackResolver(document, physical, attributes)

    dynamodb = admin_client("dynamodb", endpoint)
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::DynamoDB::Table":
            continue
        props = resolver.resolve(resource["Properties"], logical_id)
        name = f"{STACK}-{logical_id}-{suffix}"
        extras = ("TimeToLiveSpecification", "PointInTimeRecoverySpecification", "SSESpecification")
        dynamodb.create_table(TableName=name, **{k: v for k, v in props.items() if k not in extras})
        if "TimeToLiveSpecification" in props:
            dynamodb.update_time_to_live(
                TableName=name, TimeToLiveSpecification=props["TimeToLiveSpecification"]
            )
        physical[logical_id] = table_names[logical_id] = name

    s3 = admin_client("s3", endpoint)
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::S3::Bucket":  # the media bucket (the functions' only S3 use)
            physical[logical_id] = f"{STACK}-{logical_id}-{suffix}".lower()
            s3.create_bucket(Bucket=physical[logical_id])

    sqs = admin_client("sqs", endpoint)
    queues = {k: r for k, r in resources.items() if r["Type"] == "AWS::SQS::Queue"}
    for logical_id, resource in queues.items():  # names first: redrive policies point at each other
        props = resource["Properties"]
        name = resolver.resolve(props["QueueName"], logical_id) if "QueueName" in props else None
        queue_names[logical_id] = name or f"{STACK}-{logical_id}-{suffix}"
    ordered = sorted(queues, key=lambda k: "RedrivePolicy" in queues[k]["Properties"])  # DLQs first
    for logical_id in ordered:
        props = resolver.resolve(queues[logical_id]["Properties"], logical_id)
        attrs: dict[str, str] = {}
        for key_name in (
            "FifoQueue",
            "ContentBasedDeduplication",
            "DeduplicationScope",
            "FifoThroughputLimit",
            "VisibilityTimeout",
            "MessageRetentionPeriod",
            "KmsMasterKeyId",
            "DelaySeconds",
        ):
            if key_name in props:
                attrs[key_name] = _text(props[key_name])
        if "RedrivePolicy" in props:
            attrs["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
        url = sqs.create_queue(QueueName=queue_names[logical_id], Attributes=attrs)["QueueUrl"]
        physical[logical_id] = url

    iam = admin_client("iam", endpoint)
    sts = admin_client("sts", endpoint)
    stack = Stack(
        endpoint=endpoint,
        document=document,
        physical=physical,
        queue_names=queue_names,
        table_names=table_names,
        key_arn=key_arn,
        socket_api_id=socket_api_id,
        resolver=resolver,
    )
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        props = resource["Properties"]
        statements: list[dict[str, Any]] = []
        for policy in props.get("Policies") or []:
            document_ = resolver.resolve(policy["PolicyDocument"], f"{logical_id}.Policies")
            statements.extend(_statements(document_))
        for arn in resolver.resolve(props.get("ManagedPolicyArns") or [], logical_id):
            statements.extend(copy.deepcopy(MANAGED_POLICIES.get(arn, [])))
        stack.policies[logical_id] = statements
        role_name = attributes(logical_id, "Arn").rpartition("/")[2]  # type: ignore[union-attr]
        trust = resolver.resolve(props["AssumeRolePolicyDocument"], logical_id)
        role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]
        if statements:  # the connector's execution role has only an AWS managed policy (ECR, logs)
            document_ = _moto_document(statements)
            iam.put_role_policy(
                RoleName=role_name, PolicyName="translated", PolicyDocument=json.dumps(document_)
            )
        physical[logical_id] = role_name
        # Assumed while IAM is not enforced yet (moto would check the trust policy's service principal).
        creds = sts.assume_role(RoleArn=role["Arn"], RoleSessionName=logical_id[:60])["Credentials"]
        stack.credentials[logical_id] = Credentials(
            creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]
        )
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::Lambda::Function":
            role = resource["Properties"]["Role"]["Fn::GetAtt"][0]
            stack.function_roles[logical_id] = role

    _create_schedules(stack, resolver, endpoint)
    return stack


def _create_schedules(stack: Stack, resolver: StackResolver, endpoint: str) -> None:
    scheduler = admin_client("scheduler", endpoint)
    for logical_id, resource in stack.document["Resources"].items():
        if resource["Type"] != "AWS::Scheduler::Schedule":
            continue
        props = resolver.resolve(resource["Properties"], logical_id)
        target = props["Target"]
        scheduler.create_schedule(
            Name=props["Name"],
            ScheduleExpression=props["ScheduleExpression"],
            FlexibleTimeWindow=props["FlexibleTimeWindow"],
            Target={"Arn": target["Arn"], "RoleArn": target["RoleArn"]},
            Description=props.get("Description", ""),
        )
        stack.physical[logical_id] = props["Name"]
        # Read back now: moto's server miscomputes SigV4 of the scheduler's GET calls once IAM is enforced.
        stack.schedules.append(scheduler.get_schedule(Name=props["Name"]))


def _statements(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    raw = document["Statement"]
    return [dict(s) for s in (raw if isinstance(raw, list) else [raw])]


def _moto_document(statements: list[dict[str, Any]]) -> dict[str, Any]:
    """The role's policy as moto can evaluate it (see the module docstring)."""
    adapted = []
    for statement in statements:
        if "Condition" in statement:
            # Moto turns an Allow whose condition does not hold into a Deny of the whole call; these
            # conditional grants (kms:ViaService sqs) only add rights for calls SQS makes, never ours.
            continue
        actions = statement["Action"]
        actions = [actions] if isinstance(actions, str) else list(actions)
        extra = [alias for a in actions for alias in _MOTO_ALIASES.get(a.lower(), [])]
        entry = dict(statement, Action=actions + extra)
        if not all(a.lower().startswith(_MOTO_RESOURCE_SERVICES) for a in actions):
            entry["Resource"] = "*"
        adapted.append(entry)
        if any(a.lower() == "sqs:getqueueurl" for a in actions):
            adapted.append({"Effect": statement["Effect"], "Action": "sqs:GetQueueUrl", "Resource": "*"})
    return {"Version": "2012-10-17", "Statement": adapted}
