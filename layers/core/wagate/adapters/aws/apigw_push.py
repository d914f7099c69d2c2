"""The Push port on API Gateway's `@connections` management API (the same client serves local mode).

`endpoint_url` is `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}` on AWS and the local
runner's `http://127.0.0.1:{port}/ws`. The local endpoint checks no signature, so plain-http endpoints
are called unsigned: no AWS credentials are needed on a machine that has none. The AWS backend asks for
`signed=True`: whatever the endpoint's scheme (an emulator such as moto's server is plain http), the
@connections API authorizes the caller's role from the SigV4 signature.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from wagate.domain.errors import Gone, ItemTooLarge, TransientError, WagateError

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi import ApiGatewayManagementApiClient

_TRANSIENT = {"LimitExceededException", "ThrottlingException", "InternalServerErrorException"}
_DEFAULT_REGION = "us-east-1"


class ApiGatewayPush:
    """Implements `wagate.ports.Push`. Thread-safe: the client is built once, on first use."""

    def __init__(
        self,
        endpoint_url: str,
        client_factory: Callable[[], ApiGatewayManagementApiClient] | None = None,
        *,
        signed: bool | None = None,
    ) -> None:
        """`signed`: None = only https endpoints are signed (local mode); True = always (AWS backend)."""
        self._endpoint_url = endpoint_url.rstrip("/")
        self._signed = endpoint_url.startswith("https://") if signed is None else signed
        self._factory = client_factory or self._default_client
        self._client: ApiGatewayManagementApiClient | None = None
        self._lock = threading.Lock()

    def post(self, connection_id: str, data: bytes) -> None:
        """Raises Gone (the connection is closed), TransientError, WagateError."""
        try:
            self._get_client().post_to_connection(ConnectionId=connection_id, Data=data)
        except ClientError as exc:
            raise _domain_error(exc, connection_id) from exc

    def disconnect(self, connection_id: str) -> None:
        """Close a connection; one that is already gone counts as closed."""
        try:
            self._get_client().delete_connection(ConnectionId=connection_id)
        except ClientError as exc:
            error = _domain_error(exc, connection_id)
            if not isinstance(error, Gone):
                raise error from exc

    def _get_client(self) -> ApiGatewayManagementApiClient:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._factory()
        return self._client

    def _default_client(self) -> ApiGatewayManagementApiClient:
        if not self._signed:
            region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or _DEFAULT_REGION
            config = Config(signature_version=UNSIGNED, retries={"mode": "standard", "max_attempts": 2})
            return boto3.client(
                "apigatewaymanagementapi", endpoint_url=self._endpoint_url, region_name=region, config=config
            )
        return boto3.client("apigatewaymanagementapi", endpoint_url=self._endpoint_url)


def _domain_error(exc: ClientError, connection_id: str) -> WagateError:
    code = exc.response.get("Error", {}).get("Code", "")
    if code == "GoneException":
        return Gone(f"connection {connection_id} is gone", details={"connection_id": connection_id})
    if code == "PayloadTooLargeException":
        return ItemTooLarge(
            "a WebSocket message is limited to 128 KB", details={"connection_id": connection_id}
        )
    if code in _TRANSIENT:
        return TransientError(f"@connections API: {code}", details={"connection_id": connection_id})
    return WagateError(
        f"@connections API: {code or exc}", details={"connection_id": connection_id}, code=code or None
    )
