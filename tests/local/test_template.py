"""Reading template.yaml: functions and their environment, routes, WebSocket API, schedules, queues."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.runner import function_environment
from local.template import TemplateError, load_template
from local.template_apis import IMPLICIT_HTTP_API
from local.template_model import Template

ROOT = Path(__file__).resolve().parents[2]


def write_template(tmp_path: Path, resources: str, extra: str = "") -> Path:
    (tmp_path / "fn").mkdir(exist_ok=True)
    (tmp_path / "fn" / "app.py").write_text("def handler(event, context):\n    return event\n")
    path = tmp_path / "template.yaml"
    path.write_text(
        'AWSTemplateFormatVersion: "2010-09-09"\nTransform: AWS::Serverless-2016-10-31\n'
        f"{extra}Resources:\n{resources}"
    )
    return path


def function(name: str, events: str = "", env: str = "") -> str:
    text = f"  {name}:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: fn/\n"
    text += "      Handler: app.handler\n"
    if env:
        text += f"      Environment:\n        Variables:\n{env}"
    if events:
        text += f"      Events:\n{events}"
    return text


def test_functions_merge_globals_and_resolve_intrinsics(gateway_template: Template) -> None:
    echo = gateway_template.functions["EchoFunction"]
    assert echo.code_dir.name == "echo" and echo.code_dir.is_absolute()
    assert (echo.handler, echo.timeout_seconds, echo.memory_mb) == ("app.handler", 10, 256)
    assert echo.environment == {
        "WAGATE_BACKEND": "aws",
        "TEST_GREETING": "hello",  # !Ref Param → its Default
        "TEST_QUEUE_ARN": "arn:aws:sqs:us-east-1:000000000000:WorkQueue",  # !GetAtt X.Arn → a fake ARN
        "TEST_SUB": "us-east-1/hello/WorkQueue/${Literal}",  # !Sub, with a ${!Escaped} literal
        "TEST_ONLY_ECHO": "yes",  # the function's own variables join the Globals'
    }
    assert "TEST_ONLY_ECHO" not in gateway_template.functions["WsFunction"].environment


def test_parameter_overrides_replace_defaults(tmp_path: Path) -> None:
    extra = "Parameters:\n  Level:\n    Type: String\n    Default: INFO\n"
    path = write_template(tmp_path, function("Fn", env="          LEVEL: !Ref Level\n"), extra)
    assert load_template(path).functions["Fn"].environment == {"LEVEL": "INFO"}
    assert load_template(path, {"Level": "DEBUG"}).functions["Fn"].environment == {"LEVEL": "DEBUG"}


def test_http_routes_and_their_authorizers(gateway_template: Template) -> None:
    routes = {r.route_key: r for r in gateway_template.http_routes}
    assert routes["GET /items/special"].authorizer is None  # Auth: {Authorizer: NONE}
    assert routes["ANY /items/{proxy+}"].function_id == "EchoFunction"
    default_auth = routes["ANY /open/{proxy+}"].authorizer  # the API's DefaultAuthorizer
    assert default_auth is not None and default_auth.name == "OpenAuth"
    assert default_auth.function_id == "AuthFunction" and default_auth.simple_responses
    token_auth = routes["ANY /secure/{proxy+}"].authorizer
    assert token_auth is not None and token_auth.identity_headers == ("x-token",)


def test_websocket_api_routes_integrations_and_authorizer(gateway_template: Template) -> None:
    api = gateway_template.websocket_api
    assert api is not None and api.route_selection_expression == "$request.body.action"
    assert set(api.routes) == {"$connect", "$default", "$disconnect", "echo"}
    assert {r.function_id for r in api.routes.values()} == {"WsFunction"}
    connect = api.routes["$connect"]
    assert connect.authorizer is not None and connect.authorizer.function_id == "WsAuthFunction"
    assert connect.authorizer.identity_sources == ("route.request.querystring.token",)
    assert api.routes["echo"].two_way and not api.routes["$default"].two_way


def test_schedules_queues_and_subscriptions(gateway_template: Template) -> None:
    schedules = {s.name: s for s in gateway_template.schedules}
    assert schedules["SweeperFunction.EveryMinute"].period_seconds == 60
    assert schedules["SweeperFunction.Hourly"].period_seconds == 7200
    assert not schedules["SweeperFunction.Hourly"].enabled
    subscriptions = {s.name: s for s in gateway_template.queue_subscriptions}
    work = subscriptions["ConsumerFunction.Work"]
    assert (work.queue_id, work.batch_size, work.report_batch_item_failures) == ("WorkQueue", 5, True)
    assert not subscriptions["ConsumerFunction.Plain"].report_batch_item_failures
    definitions = gateway_template.queue_definitions()
    assert definitions["WorkQueue"].dlq == "WorkDlq" and definitions["WorkQueue"].max_receives == 2
    assert definitions["OrderQueue"].fifo and definitions["OrderQueue"].content_based_dedup
    assert definitions["WorkDlq"].visibility_timeout == 30
    assert gateway_template.queues["OrderQueue"].arn.endswith(":OrderQueue.fifo")
    assert gateway_template.skipped == ("SweeperFunction.Events.Alerts (SNS)",)


def test_the_products_template_loads() -> None:
    template = load_template(ROOT / "template.yaml")
    routes = {r.route_key: r for r in template.http_routes}
    assert routes["ANY /health"].authorizer is None
    for function in template.functions.values():
        assert (function.code_dir / "app.py").is_file(), function.logical_id
    for queue in template.queues.values():
        assert queue.dlq_id is None or queue.dlq_id in template.queues, queue.logical_id
    for subscription in template.queue_subscriptions:
        assert subscription.queue_id in template.queues
    function_environment(template)  # the functions agree on every variable


def test_the_insights_parameter_sets_the_variable_only_to_turn_counting_off() -> None:
    # Unset by default, so `wagate serve` (where the template's variables win) leaves the shell's own.
    assert "WAGATE_INSIGHTS" not in function_environment(load_template(ROOT / "template.yaml"))
    off = load_template(ROOT / "template.yaml", parameters={"Insights": "false"})
    assert function_environment(off)["WAGATE_INSIGHTS"] == "false"


def test_conditions_choose_values_and_resources(tmp_path: Path) -> None:
    extra = (
        "Parameters:\n  Mode:\n    Type: String\n    Default: local\n"
        "Conditions:\n  IsLocal: !Equals [!Ref Mode, local]\n  IsCloud: !Not [!Condition IsLocal]\n"
    )
    resources = function("Fn", env="          WHERE: !If [IsLocal, here, there]\n")
    resources += "  CloudQueue:\n    Type: AWS::SQS::Queue\n    Condition: IsCloud\n"
    path = write_template(tmp_path, resources, extra)
    local = load_template(path)
    assert local.functions["Fn"].environment == {"WHERE": "here"} and not local.queues
    cloud = load_template(path, {"Mode": "cloud"})
    assert cloud.functions["Fn"].environment == {"WHERE": "there"} and set(cloud.queues) == {"CloudQueue"}


def test_for_each_expands_queues_and_their_dead_letter_queues(tmp_path: Path) -> None:
    extra = "Parameters:\n  Shards:\n    Type: CommaDelimitedList\n    Default: a,b\n"
    resources = """  Fn::ForEach::Shards:
    - Shard
    - !Ref Shards
    - Work${Shard}:
        Type: AWS::SQS::Queue
        Properties:
          RedrivePolicy:
            deadLetterTargetArn: !GetAtt [!Sub "Dead${Shard}", Arn]
            maxReceiveCount: 3
      Dead${Shard}:
        Type: AWS::SQS::Queue
"""
    queues = load_template(write_template(tmp_path, resources, extra)).queues
    assert set(queues) == {"Worka", "Deada", "Workb", "Deadb"}
    assert (queues["Workb"].dlq_id, queues["Workb"].max_receives) == ("Deadb", 3)


def test_an_httpapi_event_without_path_is_the_default_route_of_the_implicit_api(tmp_path: Path) -> None:
    events = "        All:\n          Type: HttpApi\n"
    route = load_template(write_template(tmp_path, function("Fn", events))).http_routes[0]
    assert (route.route_key, route.api_id, route.authorizer) == ("$default", IMPLICIT_HTTP_API, None)


@pytest.mark.parametrize(
    "expression", ["cron(0 12 * * ? *)", "at(2030-01-01T00:00:00)", "rate(5 seconds)", "rate(0 minutes)"]
)
def test_schedules_other_than_rate_are_refused(tmp_path: Path, expression: str) -> None:
    events = (
        "        Tick:\n          Type: ScheduleV2\n          Properties:\n"
        f'            ScheduleExpression: "{expression}"\n'
    )
    with pytest.raises(TemplateError, match="rate"):
        load_template(write_template(tmp_path, function("Fn", events)))


def test_functions_that_disagree_on_a_variable_cannot_share_a_process(tmp_path: Path) -> None:
    resources = function("One", env="          MODE: fast\n") + function("Two", env="          MODE: slow\n")
    with pytest.raises(TemplateError, match="MODE"):
        function_environment(load_template(write_template(tmp_path, resources)))


def test_runner_owned_variables_do_not_conflict(tmp_path: Path) -> None:
    resources = function("One", env="          WAGATE_BACKEND: aws\n") + function("Two")
    assert function_environment(load_template(write_template(tmp_path, resources))) == {}


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        (function("Fn", env="          X: !Ref Missing\n"), "Missing"),
        (function("Fn", env="          X: !Select [0, [a, b]]\n"), "Fn::Select"),
        (function("Fn", env="          X: !If [Cond, a, b]\n"), "no condition named Cond"),
        (function("Fn", env="          X: !GetAtt Fn.Nonsense\n"), "Nonsense"),
    ],
)
def test_unresolvable_intrinsics_are_clear_errors(tmp_path: Path, resources: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        load_template(write_template(tmp_path, resources))


def test_an_sqs_event_must_name_a_queue_of_the_template(tmp_path: Path) -> None:
    events = (
        "        Work:\n          Type: SQS\n          Properties:\n"
        "            Queue: arn:aws:sqs:us-east-1:123456789012:elsewhere\n"
    )
    with pytest.raises(TemplateError, match="GetAtt"):
        load_template(write_template(tmp_path, function("Fn", events)))
