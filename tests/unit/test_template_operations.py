"""template.yaml's operations: alarms that can notify, what they watch, the shard count in one place,
the connector's health check, restart policy and autoscaling, and tracing that costs nothing by default."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from local.language_extensions import expand_for_each
from local.runner import function_environment
from local.template import load_template
from wagate import meters

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SOURCES = [ROOT / "layers/core/wagate", ROOT / "connector", ROOT / "functions"]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return dict(cfn_yaml.load(str(TEMPLATE)))


@pytest.fixture(scope="module")
def resources(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return expand_for_each(document["Resources"], document["Parameters"])


def of_type(resources: dict[str, dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {name: dict(r.get("Properties", {})) for name, r in resources.items() if r["Type"] == kind}


def ref(value: Any) -> str | None:
    return str(value["Ref"]) if isinstance(value, dict) and set(value) == {"Ref"} else None


def get_att(value: Any) -> tuple[str, str] | None:
    if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
        target = value["Fn::GetAtt"]
        if isinstance(target, str):
            name, _, attribute = target.partition(".")
            return name, attribute
        return str(target[0]), str(target[1])
    return None


def alarms_on(resources: dict[str, dict[str, Any]], metric: str, queue: str) -> list[dict[str, Any]]:
    found = []
    for props in of_type(resources, "AWS::CloudWatch::Alarm").values():
        dimensions = {d["Name"]: d["Value"] for d in props.get("Dimensions", [])}
        if props.get("MetricName") == metric and get_att(dimensions.get("QueueName")) == (queue, "QueueName"):
            found.append(props)
    return found


# ---- alarms can notify ---------------------------------------------------------------------------


def test_the_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use(resources: dict[str, Any]) -> None:
    topic = resources["AlarmTopic"]["Properties"]
    key_name = ref(topic["KmsMasterKeyId"])
    assert key_name is not None, "the AWS managed alias/aws/sns key cannot be used by CloudWatch alarms"
    key = resources[key_name]
    assert key["Type"] == "AWS::KMS::Key"
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    for_cloudwatch = [
        s
        for s in statements
        if s["Effect"] == "Allow" and s.get("Principal", {}).get("Service") == "cloudwatch.amazonaws.com"
    ]
    assert for_cloudwatch, "the key policy must let cloudwatch.amazonaws.com use the key"
    actions = {a for s in for_cloudwatch for a in s["Action"]}
    assert "kms:Decrypt" in actions
    assert "kms:GenerateDataKey*" in actions or "kms:GenerateDataKey" in actions
    assert key["Properties"]["EnableKeyRotation"] is True


def test_every_alarm_notifies_the_alarm_topic(resources: dict[str, Any]) -> None:
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")
    assert len(alarms) >= 15
    for name, props in alarms.items():
        assert [ref(a) for a in props["AlarmActions"]] == ["AlarmTopic"], name


def test_every_dead_letter_queue_has_a_depth_alarm(resources: dict[str, Any]) -> None:
    queues = of_type(resources, "AWS::SQS::Queue")
    dlqs = {
        target[0]
        for props in queues.values()
        if "RedrivePolicy" in props and (target := get_att(props["RedrivePolicy"]["deadLetterTargetArn"]))
    }
    assert {"EventsDlq", "DispatchDlq", "WebhooksDlq", "CloudSendDlq", "CommandDlq0", "CommandDlq3"} <= dlqs
    for dlq in dlqs:
        (alarm,) = alarms_on(resources, "ApproximateNumberOfMessagesVisible", dlq)
        assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_command_and_event_queues_alarm_on_the_age_of_their_oldest_message(resources: dict[str, Any]) -> None:
    queues = [name for name in of_type(resources, "AWS::SQS::Queue") if name.startswith("CommandQueue")]
    assert len(queues) == 4
    for queue in [*queues, "EventsQueue"]:
        (alarm,) = alarms_on(resources, "ApproximateAgeOfOldestMessage", queue)
        assert alarm["Statistic"] == "Maximum" and 0 < alarm["Threshold"] <= 900


def emitted_metrics() -> set[str]:
    """Metric names the code emits: Powertools `add_metric(name="...")` and wagate/meters.py's names
    (those it declares and the code counts)."""
    names: set[str] = set()
    for source in SOURCES:
        for path in source.rglob("*.py"):
            text = path.read_text()
            names.update(re.findall(r'add_metric\(\s*name="(\w+)"', text))
            names.update(re.findall(r'meters\.(?:count|gauge)\(\s*"(\w+)"', text))
    return names


def watched_metrics(props: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """(namespace, metric name, dimensions) an alarm watches: its metric, or each MetricStat of its math."""
    if "MetricName" in props:
        dimensions = {d["Name"]: d["Value"] for d in props.get("Dimensions", [])}
        return [(props["Namespace"], props["MetricName"], dimensions)]
    watched = []
    for query in props["Metrics"]:
        if "MetricStat" in query:
            metric = query["MetricStat"]["Metric"]
            dimensions = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
            watched.append((metric["Namespace"], metric["MetricName"], dimensions))
    return watched


def test_custom_metric_alarms_watch_metrics_the_code_emits(resources: dict[str, Any]) -> None:
    custom = [
        (name, dimensions)
        for props in of_type(resources, "AWS::CloudWatch::Alarm").values()
        for namespace, name, dimensions in watched_metrics(props)
        if namespace == "wagate"
    ]
    watched = {name for name, _ in custom}
    assert {
        "ShardsWithoutOwner",
        "wagate_session_status_changes_total",
        "wagate_sessions",
        "wagate_messages_failed_total",
        "wagate_webhook_deliveries_total",
        "wagate_auth_failures_total",
    } <= watched
    assert watched <= emitted_metrics()
    for name, dimensions in custom:
        # Powertools' one dimension is service; wagate/meters.py adds a metric's labels.
        assert dimensions["service"] == "wagate"
        if not name.startswith("wagate_"):
            assert dimensions == {"service": "wagate"}
        else:
            labels = {**meters.COUNTERS, **meters.GAUGES}[name][1]
            assert set(dimensions) - {"service"} <= set(labels), (name, dimensions)
    assert resources["ShardsWithoutOwnerAlarm"]["Condition"] == "HasConnector"


# ---- the shard count is one parameter --------------------------------------------------------------


def test_the_shard_count_is_set_in_one_place(document: dict[str, Any]) -> None:
    text = TEMPLATE.read_text()
    assert document["Parameters"]["ConnectorShards"]["Type"] == "CommaDelimitedList"
    assert ref(document["Resources"]["Fn::ForEach::CommandQueues"][1]) == "ConnectorShards"
    length = {"Fn::Length": {"Ref": "ConnectorShards"}}
    assert document["Globals"]["Function"]["Environment"]["Variables"]["WAGATE_SHARDS"] == length
    container = document["Resources"]["ConnectorTaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert env["WAGATE_SHARDS"] == length
    settings = re.findall(r"(?:WAGATE_SHARDS:|Name: WAGATE_SHARDS,)", text)
    assert len(settings) == 2  # the functions' and the connector's, both from the parameter
    assert not re.search(r'\[\s*"0",\s*"1"', text.split("Rules:")[0])  # no hand-written shard list


def test_more_shards_are_one_override(tmp_path: Path) -> None:
    shards = ",".join(str(n) for n in range(8))
    loaded = load_template(TEMPLATE, {"ConnectorShards": shards})
    commands = sorted(q for q in loaded.queues if q.startswith("CommandQueue"))
    assert commands == [f"CommandQueue{n}" for n in range(8)]
    assert function_environment(loaded)["WAGATE_SHARDS"] == "8"
    assert function_environment(load_template(TEMPLATE))["WAGATE_SHARDS"] == "4"


# ---- the connector task ------------------------------------------------------------------------------


def test_the_connector_has_a_liveness_check_and_restarts_in_place(resources: dict[str, Any]) -> None:
    (container,) = resources["ConnectorTaskDefinition"]["Properties"]["ContainerDefinitions"]
    check = container["HealthCheck"]
    assert check["Command"] == ["CMD", "python", "-m", "connector.liveness"]
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert env["WAGATE_LIVENESS_FILE"].startswith("/tmp/")
    # Three failed checks take longer than the heartbeat's allowed age (default 30 s) plus one check.
    assert check["Interval"] * check["Retries"] >= 30
    restart = container["RestartPolicy"]
    assert restart["Enabled"] is True and restart["IgnoredExitCodes"] == [0]
    assert restart["RestartAttemptPeriod"] >= 60  # a container failing at once still fails the deployment
    deployment = resources["ConnectorService"]["Properties"]["DeploymentConfiguration"]
    assert deployment["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}


def test_the_connector_scales_on_sessions_per_task_and_memory(resources: dict[str, Any]) -> None:
    target = resources["ConnectorScalableTarget"]["Properties"]
    assert target["ScalableDimension"] == "ecs:service:DesiredCount"
    assert "DesiredCount" not in resources["ConnectorService"]["Properties"]  # updates must not reset it
    assert ref(target["MinCapacity"]) == "ConnectorTasks"
    assert ref(target["MaxCapacity"]) == "ConnectorMaxTasks"
    policies = of_type(resources, "AWS::ApplicationAutoScaling::ScalingPolicy")
    configs = [p["TargetTrackingScalingPolicyConfiguration"] for p in policies.values()]
    assert all(ref(p["ScalingTargetId"]) == "ConnectorScalableTarget" for p in policies.values())
    (custom,) = [c["CustomizedMetricSpecification"] for c in configs if "CustomizedMetricSpecification" in c]
    from connector import metrics

    assert (custom["Namespace"], custom["MetricName"], custom["Statistic"]) == (
        metrics.NAMESPACE,
        "ConnectorSessions",
        "Average",
    )
    assert custom["Dimensions"] == [{"Name": "service", "Value": metrics.SERVICE}]
    assert "ConnectorSessions" in emitted_metrics()
    predefined = [c["PredefinedMetricSpecification"] for c in configs if "PredefinedMetricSpecification" in c]
    assert predefined == [{"PredefinedMetricType": "ECSServiceAverageMemoryUtilization"}]


def test_the_x_ray_sdk_loads_only_when_tracing_is_active() -> None:
    assert function_environment(load_template(TEMPLATE))["POWERTOOLS_TRACE_DISABLED"] == "true"
    active = load_template(TEMPLATE, {"Tracing": "Active"})
    assert function_environment(active)["POWERTOOLS_TRACE_DISABLED"] == "false"


def test_each_tenant_has_a_request_rate_below_the_whole_apis() -> None:
    loaded = load_template(TEMPLATE)
    env = function_environment(loaded)
    assert (env["WAGATE_TENANT_REQUESTS_PER_SECOND"], env["WAGATE_TENANT_REQUEST_BURST"]) == ("300", "600")
    document = cfn_yaml.load(str(TEMPLATE))
    stage = document["Resources"]["HttpApi"]["Properties"]["DefaultRouteSettings"]
    assert stage["ThrottlingRateLimit"] > 300 and stage["ThrottlingBurstLimit"] > 600
    off = load_template(TEMPLATE, {"TenantRequestsPerSecond": "0"})
    assert function_environment(off)["WAGATE_TENANT_REQUESTS_PER_SECOND"] == "0"
