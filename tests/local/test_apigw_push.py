"""The Push adapter's error mapping (botocore Stubber) and its client choice, without a server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.stub import Stubber

from wagate.adapters.aws.apigw_push import ApiGatewayPush
from wagate.domain.errors import Gone, ItemTooLarge, TransientError, WagateError

ENDPOINT = "https://abc123.execute-api.eu-west-1.amazonaws.com/prod"
CONNECTION = "L0SM9cOFvHcCIhw="


@pytest.fixture
def stubbed() -> Iterator[tuple[ApiGatewayPush, Stubber]]:
    client = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=ENDPOINT,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(client) as stubber:
        yield ApiGatewayPush(ENDPOINT, client_factory=lambda: client), stubber
        stubber.assert_no_pending_responses()


def test_post_sends_the_data_to_the_connection(stubbed: tuple[ApiGatewayPush, Stubber]) -> None:
    push, stubber = stubbed
    stubber.add_response("post_to_connection", {}, {"ConnectionId": CONNECTION, "Data": b"hi"})
    push.post(CONNECTION, b"hi")


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("GoneException", 410, Gone),
        ("PayloadTooLargeException", 413, ItemTooLarge),
        ("LimitExceededException", 429, TransientError),
        ("ForbiddenException", 403, WagateError),
    ],
)
def test_post_errors_become_domain_errors(
    stubbed: tuple[ApiGatewayPush, Stubber], code: str, status: int, error: type[WagateError]
) -> None:
    push, stubber = stubbed
    stubber.add_client_error("post_to_connection", service_error_code=code, http_status_code=status)
    with pytest.raises(error) as raised:
        push.post(CONNECTION, b"hi")
    assert type(raised.value) is error


def test_disconnect_treats_gone_as_done(stubbed: tuple[ApiGatewayPush, Stubber]) -> None:
    push, stubber = stubbed
    stubber.add_client_error("delete_connection", service_error_code="GoneException", http_status_code=410)
    push.disconnect(CONNECTION)
    stubber.add_client_error(
        "delete_connection", service_error_code="ForbiddenException", http_status_code=403
    )
    with pytest.raises(WagateError):
        push.disconnect(CONNECTION)


def test_the_client_is_built_on_first_use_only() -> None:
    built: list[Any] = []

    def factory() -> Any:
        built.append(1)
        return boto3.client("apigatewaymanagementapi", endpoint_url=ENDPOINT, region_name="eu-west-1")

    push = ApiGatewayPush(ENDPOINT, client_factory=factory)
    assert built == []
    push._get_client()
    push._get_client()
    assert built == [1]


def test_a_local_http_endpoint_is_called_unsigned(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    push = ApiGatewayPush("http://127.0.0.1:8000/ws")
    client = push._get_client()
    assert client.meta.config.signature_version is UNSIGNED  # type: ignore[attr-defined]
    assert client.meta.endpoint_url == "http://127.0.0.1:8000/ws"
