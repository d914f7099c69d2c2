"""The AWS-mode test bed: moto in server mode with IAM enforced, the stack deployed from the translated
template, one worker process per function under its role, the connector process under the task role, and
the parts of AWS that moto does not run (API Gateway invoking the authorizer and the API, the WebSocket
API invoking `ws`, Lambda's SQS event-source pollers, EventBridge Scheduler firing the sweeper).

Every process appends its AWS calls to one JSON-lines log (tests/aws/recorder.py); `calls()` reads it.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from local.ws_events import ConnectionInfo, connect_event, message_event
from tests.aws.policy import allowed
from tests.aws.stack import REGION, SOCKET_STAGE, Credentials, Stack, admin_client, deploy
from tests.support.lambdas import http_event, load_event

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = {
    "AuthorizerFunction": "authorizer",
    "ApiFunction": "api",
    "WsFunction": "ws",
    "EventsFunction": "events",
    "SweeperFunction": "sweeper",
    "DispatcherFunction": "dispatcher",
    "WebhooksOutFunction": "webhooks_out",
    "CloudSendFunction": "cloud_send",
    "MetaWebhooksFunction": "meta_webhooks",
    "EvolutionFunction": "evolution",
}
# Which queue feeds which function (the template's SQS events, checked against it in `start`).
SUBSCRIPTIONS = {
    "EventsQueue": "EventsFunction",
    "DispatchQueue": "DispatcherFunction",
    "WebhooksQueue": "WebhooksOutFunction",
    "CloudSendQueue": "CloudSendFunction",
}
SANDBOX = {
    "WAGATE_SANDBOX_QR_FIRST_SECONDS": "30",
    "WAGATE_SANDBOX_QR_NEXT_SECONDS": "30",
    "WAGATE_SANDBOX_QR_LIMIT": "0",
    "WAGATE_SANDBOX_DELIVERED_SECONDS": "0.2",
    "WAGATE_SANDBOX_READ_SECONDS": "0.2",
    "WAGATE_SANDBOX_REPLY_SECONDS": "0.2",
    "WAGATE_SANDBOX_JOURNAL": "off",
}


class FunctionFailed(AssertionError):
    pass


class Worker:
    """One function's execution environment (a process), one invocation at a time, as Lambda runs them."""

    def __init__(self, function_id: str, env: dict[str, str], log: Path) -> None:
        self.function_id = function_id
        self._lock = threading.Lock()
        self._log = open(log, "w")  # noqa: SIM115 - closed in stop()
        code = ROOT / "functions" / FUNCTIONS[function_id]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.aws.lambda_worker", str(code)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
            cwd=ROOT,
            text=True,
        )
        self.invocations = 0

    def wait_ready(self) -> None:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise FunctionFailed(f"{self.function_id} did not start (see {self._log.name})")

    def invoke(self, event: Any, clock_offset: float = 0) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        with self._lock:
            self.invocations += 1
            self.process.stdin.write(json.dumps({"event": event, "clock_offset": clock_offset}) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        if not line:
            raise FunctionFailed(f"{self.function_id} died (see {self._log.name})")
        reply = json.loads(line)
        if "errorType" in reply:
            raise FunctionFailed(f"{self.function_id}: {reply['errorType']}: {reply['errorMessage']}")
        return reply["result"]

    def close(self) -> None:
        """End of input: the process exits after its current invocation (see `wait`)."""
        if self.process.stdin:
            self.process.stdin.close()

    def wait(self) -> None:
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


@dataclass
class AwsMode:
    workdir: Path
    stack: Stack | None = None
    workers: dict[str, Worker] = field(default_factory=dict)
    connector: subprocess.Popen[bytes] | None = None
    admin: Credentials | None = None
    poller_errors: list[str] = field(default_factory=list)
    invocations: dict[str, int] = field(default_factory=dict)
    # SQS requests of Lambda's pollers that carried messages (empty long polls are a fixed cost).
    poller_requests: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _counting: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)
    _server: Any = None
    _auth_before: str | None = None

    @property
    def record(self) -> Path:
        return self.workdir / "calls.jsonl"

    # -- setup -------------------------------------------------------------------------------------------
    def start(self, extra_env: dict[str, str] | None = None) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto logs every request
        self._server = _one_call_at_a_time_moto()
        self._server.start()
        host, port = self._server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        iam = admin_client("iam", endpoint)
        iam.create_user(UserName="e2e-operator")
        everything = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        }
        iam.put_user_policy(
            UserName="e2e-operator", PolicyName="operator", PolicyDocument=json.dumps(everything)
        )
        key = iam.create_access_key(UserName="e2e-operator")["AccessKey"]
        self.admin = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
        self.stack = stack = deploy(endpoint)
        self._check_subscriptions()
        # From here on moto checks every request's signature and its caller's policy.
        answer = requests.post(f"{endpoint}/moto-api/reset-auth", data=b"0", timeout=5)
        assert answer.json()["status"] == "ok"
        # The server runs in this process: its setting is moto's global one, put back in stop() (or every
        # later mock_aws test of the same pytest run would meet IAM enforcement).
        self._auth_before = answer.json()["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"]

        self.record.touch()
        base_env = self._base_env(endpoint)
        for function_id in FUNCTIONS:
            role = stack.function_roles[function_id]
            env = {
                **base_env,
                **stack.function_environment(function_id),
                **stack.credentials[role].env(),
                "AWS_LAMBDA_FUNCTION_NAME": function_id,
                "AWSE2E_PROCESS": function_id,
                "AWSE2E_POLICY": str(self._policy_file(role)),
                # moto serves @connections at its root; on AWS this is https://{api}.execute-api.../live
                "WAGATE_WEBSOCKET_ENDPOINT": endpoint,
                "WAGATE_WEBHOOKS_ALLOW_HTTP": "true",
                "WAGATE_WEBHOOKS_ALLOW_PRIVATE": "true",
                # Tests touch only localhost: Graph calls of the Cloud session fail fast (connection refused).
                "WAGATE_GRAPH_BASE_URL": "http://127.0.0.1:9",
                **(extra_env or {}),
            }
            self.workers[function_id] = Worker(function_id, env, self.workdir / f"{function_id}.log")
        connector_env = {
            **base_env,
            **stack.connector_environment(),
            **stack.credentials["ConnectorTaskRole"].env(),
            "AWSE2E_PROCESS": "connector",
            "AWSE2E_POLICY": str(self._policy_file("ConnectorTaskRole")),
            "WAGATE_DATA_DIR": str(self.workdir / "connector"),
            "WAGATE_PACING": "off",
            "WAGATE_COMMAND_WAIT_SECONDS": "1",
            "WAGATE_STOP_TIMEOUT_SECONDS": "2",
            **SANDBOX,
            **(extra_env or {}),
        }
        self._connector_log = open(self.workdir / "connector.log", "w")  # noqa: SIM115 - closed in stop()
        self.connector = subprocess.Popen(
            [sys.executable, "-m", "tests.aws.run_connector"],
            env=connector_env,
            cwd=ROOT,
            stdout=self._connector_log,
            stderr=subprocess.STDOUT,
        )
        for worker in self.workers.values():
            worker.wait_ready()
        for queue_id, function_id in SUBSCRIPTIONS.items():
            thread = threading.Thread(
                target=self._poll, args=(queue_id, function_id), daemon=True, name=queue_id
            )
            thread.start()
            self._threads.append(thread)

    def _base_env(self, endpoint: str) -> dict[str, str]:
        assert self.stack is not None and self.admin is not None
        keep = ("PATH", "HOME", "LANG", "TMPDIR", "SSL_CERT_FILE", "VIRTUAL_ENV")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env.update(
            {
                "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "layers" / "core")]),
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                "AWSE2E_RECORD": str(self.record),
                "AWSE2E_SOCKET_API": self.stack.socket_api_id,
                "AWSE2E_SOCKET_STAGE": SOCKET_STAGE,
                "AWSE2E_ADMIN_KEY": self.admin.access_key_id,
                "AWSE2E_ADMIN_SECRET": self.admin.secret_access_key,
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_LOG_LEVEL": "WARNING",
            }
        )
        return env

    def _policy_file(self, role: str) -> Path:
        assert self.stack is not None
        path = self.workdir / f"{role}.policy.json"
        path.write_text(json.dumps(self.stack.policies[role], indent=1))
        return path

    def _check_subscriptions(self) -> None:
        """The pollers above must be the template's SQS events, no more and no fewer."""
        assert self.stack is not None
        found = {}
        for resource in self.stack.document["Resources"].values():
            if resource["Type"] == "AWS::Lambda::EventSourceMapping":
                queue = resource["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]
                found[queue] = resource["Properties"]["FunctionName"]["Ref"]
        assert found == SUBSCRIPTIONS, found

    def stop(self) -> None:
        """Everything stops at once (each process takes a second or two to exit)."""
        self._stop.set()
        if self.connector is not None:
            self.connector.terminate()
        for worker in self.workers.values():
            worker.close()
        for thread in self._threads:
            thread.join(timeout=10)
        if self.connector is not None:
            try:
                self.connector.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.connector.kill()
                self.connector.wait()
            self._connector_log.close()
        for worker in self.workers.values():
            worker.wait()
        if self._server is not None:
            self._server.stop()
        if self._auth_before is not None:
            from moto import settings

            settings.INITIAL_NO_AUTH_ACTION_COUNT = float(self._auth_before)

    def create_tenant(self) -> str:
        """What README tells an operator to run once per tenant: `wagate admin --backend aws create-tenant`
        (the CLI, in its own process, with the operator's credentials), which writes through the same
        sealed table the functions read. Returns the tenant's first API key."""
        assert self.stack is not None and self.admin is not None
        env = {
            **self._base_env(self.stack.endpoint),
            **self.admin.env(),
            "TABLE_NAME": self.stack.table_names["Table"],
            "KMS_KEY_ID": self.stack.physical["SecretsKey"],
        }
        args = ["admin", "create-tenant", "Agency", "--backend", "aws", "--json"]
        done = subprocess.run(
            [sys.executable, "-m", "local.cli", *args], env=env, cwd=ROOT, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return str(json.loads(done.stdout.strip().splitlines()[-1])["api_key"])

    # -- what API Gateway, Lambda and Scheduler do -------------------------------------------------------
    def invoke(self, function_id: str, event: Any, clock_offset: float = 0) -> Any:
        with self._counting:
            self.invocations[function_id] = self.invocations.get(function_id, 0) + 1
        return self.workers[function_id].invoke(event, clock_offset)

    def api(self, method: str, path: str, key: str | None, body: Any = None) -> tuple[int, Any]:
        """A request through the HTTP API: the authorizer (routes that have one), then the API function."""
        headers = {"authorization": f"Bearer {key}"} if key else {}
        authorizer = None
        if path.startswith("/v1/"):
            auth_event = load_event("authorizer-request")
            auth_event["headers"] = headers
            verdict = self.invoke("AuthorizerFunction", auth_event)
            if not verdict.get("isAuthorized"):
                return 401, verdict
            authorizer = verdict.get("context") or {}
        event = http_event(method, path, body=body, headers=headers, authorizer=authorizer)
        response = self.invoke("ApiFunction", event)
        raw = response.get("body")
        if raw and response.get("isBase64Encoded"):
            return int(response["statusCode"]), base64.b64decode(raw)
        try:
            return int(response["statusCode"]), json.loads(raw) if raw else None
        except json.JSONDecodeError:
            return int(response["statusCode"]), raw

    def evolution(self, method: str, path: str, apikey: str, body: Any = None) -> tuple[int, Any]:
        """A request to the Evolution surface (`/evolution{path}`): the authorizer reads `apikey`, then
        the Evolution function, each under its own role."""
        from tests.support.evolution import evolution_event

        auth_event = load_event("authorizer-request")
        auth_event["headers"] = {"apikey": apikey}
        verdict = self.invoke("AuthorizerFunction", auth_event)
        event = evolution_event(
            method, path, body=body, headers={"apikey": apikey}, authorizer=verdict.get("context") or {}
        )
        response = self.invoke("EvolutionFunction", event)
        raw = response.get("body")
        return int(response["statusCode"]), json.loads(raw) if raw else None

    def meta_webhook(self, raw: bytes, signature: str) -> int:
        """Meta's POST to /webhooks/meta (a public route: no authorizer), signed with the app secret."""
        headers = {"x-hub-signature-256": signature}
        event = http_event("POST", "/webhooks/meta", raw_body=raw.decode(), headers=headers)
        return int(self.invoke("MetaWebhooksFunction", event)["statusCode"])

    def open_socket(self, token: str) -> str:
        """A dashboard connection: $connect with the token, then subscribe to every session."""
        assert self.stack is not None
        now = time.time()
        info = ConnectionInfo(
            connection_id=base64.b64encode(os.urandom(10)).decode().replace("/", "_").replace("+", "-"),
            api_id=self.stack.socket_api_id,
            domain_name=f"{self.stack.socket_api_id}.execute-api.{REGION}.amazonaws.com",
            source_ip="127.0.0.1",
            user_agent="e2e",
            connected_at_ms=int(now * 1000),
            last_active_ms=int(now * 1000),
            stage=SOCKET_STAGE,
            query_string=[("token", token)],
        )
        assert self.invoke("WsFunction", connect_event(info, now))["statusCode"] == 200
        subscribe = json.dumps({"event": "subscribe", "data": {}})
        assert self.invoke("WsFunction", message_event(info, "$default", subscribe, now))["statusCode"] == 200
        return info.connection_id

    def pushes(self, connection_id: str) -> list[dict[str, Any]]:
        """What was posted to a connection through the @connections API (moto keeps the bytes)."""
        from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends

        backend = apigatewaymanagementapi_backends["123456789012"][REGION]
        data = b""
        for cid, connection in list(backend.connections.items()):
            if urllib.parse.unquote(cid) == connection_id:
                data += connection.data
        return _json_stream(data.decode())

    def fire_schedule(self, later: float = 0) -> Any:
        """EventBridge Scheduler's delivery: its role must allow invoking the target, then the event
        (`later`: as if it fired that many seconds from now; see tests/aws/lambda_worker.py)."""
        assert self.stack is not None
        (schedule,) = self.stack.schedules
        target = schedule["Target"]
        role = next(k for k, v in self.stack.physical.items() if target["RoleArn"].endswith("/" + v))
        assert allowed(self.stack.policies[role], "lambda:InvokeFunction", target["Arn"]), target
        function_id = next(f for f in FUNCTIONS if target["Arn"].split(":function:")[1].split("-")[-2] == f)
        return self.invoke(function_id, json.loads(target.get("Input") or "{}"), later)

    def _poll(self, queue_id: str, function_id: str) -> None:
        """Lambda's event-source mapping: receive under the function's role, invoke, delete the successes."""
        assert self.stack is not None
        role = self.stack.function_roles[function_id]
        sqs = admin_client("sqs", self.stack.endpoint, self.stack.credentials[role])
        url, arn = self.stack.queue_url(queue_id), self.stack.queue_arn(queue_id)
        while not self._stop.is_set():
            try:
                received = sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=1,
                    MessageSystemAttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
                if not received:
                    continue
                self._count_poll(queue_id, "ReceiveMessage")
                records = [_record(m, arn) for m in received]
                try:
                    result = self.invoke(function_id, {"Records": records})
                except FunctionFailed as exc:
                    self.poller_errors.append(str(exc))
                    continue
                failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures") or []}
                done = [m for m in received if m["MessageId"] not in failed]
                if done:
                    self._count_poll(queue_id, "DeleteMessageBatch")
                    sqs.delete_message_batch(
                        QueueUrl=url,
                        Entries=[
                            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                        ],
                    )
            except Exception as exc:  # a denial of the poller itself fails the test
                if not self._stop.is_set():
                    self.poller_errors.append(f"{queue_id} poller: {exc}")
                    time.sleep(0.5)

    def _count_poll(self, queue_id: str, operation: str) -> None:
        with self._counting:
            name = f"{queue_id}.{operation}"
            self.poller_requests[name] = self.poller_requests.get(name, 0) + 1

    # -- what happened -----------------------------------------------------------------------------------
    def calls(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.record.read_text().splitlines() if line.strip()]

    def denials(self) -> list[dict[str, Any]]:
        return [c for c in self.calls() if "denied" in c]


def _record(message: dict[str, Any], arn: str) -> dict[str, Any]:
    """One record of Lambda's SQS event."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {
            name: {"stringValue": v.get("StringValue"), "dataType": v["DataType"]}
            for name, v in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": REGION,
    }


def _json_stream(text: str) -> list[dict[str, Any]]:
    """Concatenated JSON documents (moto appends every post to the connection's bytes)."""
    decoder = json.JSONDecoder()
    items, index = [], 0
    while index < len(text):
        value, index = decoder.raw_decode(text, index)
        items.append(value)
        while index < len(text) and text[index].isspace():
            index += 1
    return items


def wait_for(check: Callable[[], Any], timeout: float = 30.0, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {check}")
        time.sleep(every)


@contextmanager
def aws_mode(workdir: Path, extra_env: dict[str, str] | None = None) -> Iterator[AwsMode]:
    bed = AwsMode(workdir)
    try:
        bed.start(extra_env)
        yield bed
    finally:
        bed.stop()


def _one_call_at_a_time_moto() -> Any:
    """moto in server mode, answering one call at a time. Its backends are not thread-safe: two calls at
    once (a connector and three functions write the same table) sometimes fail inside moto with
    "dictionary changed size during iteration" — a 500 AWS itself never gives for that. SQS long polls
    are let through unserialised, or one waiting receive would hold every other call for its 20 s."""
    from moto.server import DomainDispatcherApplication, ThreadedMotoServer, create_backend_app
    from werkzeug.serving import make_server

    class SerialMotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = DomainDispatcherApplication(create_backend_app)
            lock = threading.Lock()

            def serial(environ: dict[str, Any], start_response: Any) -> Any:
                if environ.get("HTTP_X_AMZ_TARGET") == "AmazonSQS.ReceiveMessage":
                    return app(environ, start_response)
                with lock:
                    return list(app(environ, start_response))

            self._server = make_server(self._ip_address, self._port, serial, True)
            self._server_ready_event.set()
            self._server.serve_forever()

    return SerialMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
