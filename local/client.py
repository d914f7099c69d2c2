"""A small client of wagate's own HTTPS API, for the operator CLI (and scripts) on headless servers."""

from __future__ import annotations

from typing import Any

import httpx


class ApiError(Exception):
    """The API answered with its error shape; `code` and `message` are what it said."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class WagateClient:
    def __init__(self, base_url: str, api_key: str | None, *, timeout: float = 10.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def create_session(self, name: str, provider: str, phone: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name, "provider": provider}
        if phone:
            body["phone"] = phone
        return dict(self._json("POST", "/v1/sessions", json=body))

    def list_sessions(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
            page = self._json("GET", "/v1/sessions", params=params)
            items.extend(page["items"])
            cursor = page.get("cursor")
            if not cursor:
                return items

    def get_session(self, session_id: str) -> dict[str, Any]:
        return dict(self._json("GET", f"/v1/sessions/{session_id}"))

    def qr_terminal(self, session_id: str) -> str | None:
        """The QR as terminal text, or None while the session has none to show."""
        response = self._http.get(f"/v1/sessions/{session_id}/qr", params={"format": "terminal"})
        if response.status_code == 404 and _code(response) == "no_qr_code":
            return None
        _raise_for_error(response)
        return response.text

    def logout(self, session_id: str) -> dict[str, Any]:
        return dict(self._json("POST", f"/v1/sessions/{session_id}/logout"))

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        _raise_for_error(response)
        return response.json()


def _code(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return ""


def _raise_for_error(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        error = response.json()["error"]
        raise ApiError(response.status_code, str(error["code"]), str(error["message"]))
    except (ValueError, KeyError, TypeError):
        raise ApiError(response.status_code, "http_error", response.text[:200]) from None
