"""How the edge ends a connection, as the reconnect decision: `<stream:error>` and `<failure>` → `Exit`.

    <stream:error code="515"/>                              restart (right after pairing): Retry.NOW
    <stream:error code="401"><conflict type="device_removed"/>   unlinked on the phone: logged out
    <stream:error code="401"/> without device_removed         transient (whatsmeow logs out only on
                                                             device_removed; wiping keys is for good)
    <stream:error><conflict type="replaced"/>  (or code 440)     another socket took over: Retry.NEVER
    <stream:error code="408"/> while pairing                 the QR codes expired unscanned
    <stream:error code="503"/>, anything else                transient: backoff
    <failure reason="401|403|406"/>                          logged out (unlinked, locked, banned-logout)
    <failure reason="403" logout_message_header="…banned…"/> banned for good (the device is gone too)
    <failure reason="402" code="101" expire="86400"/>        temporarily banned: `code` says why (101 too
                                                             many strangers, 102 blocked by many, 103 too
                                                             many groups, 104 same text to many, 106
                                                             broadcast lists), `expire` for how long (s)
    <failure reason="405"/>                                  outdated version (`version_refused`): the
                                                             engine refetches the version and retries at
                                                             once (engine.py)
    <failure reason="409"/>                                  bad user agent: configuration
    <failure reason="5xx"/>                                  server trouble: backoff
    <xmlstreamend/>                                          the edge closed the stream: backoff

Pure functions over a decoded node, fuzzed in the tests: a malformed attribute is a transient end, never
an exception.
"""

from __future__ import annotations

from connector.engines.exits import Exit, ExitReason, Retry
from connector.engines.web.binary.node import Node

RESTART_REQUIRED = 515
LOGGED_OUT_REASONS = frozenset({401, 403, 406})
TEMPORARY_BAN = 402
CLIENT_OUTDATED = 405
CONFIGURATION_REASONS = {409: "user agent refused"}
ACCOUNT_GONE = 403
# Why WhatsApp says it banned a number for a while (the `code` of a 402), as whatsmeow documents them.
TEMPORARY_BAN_CODES = {
    101: "too many messages to people who do not have this number in their contacts",
    102: "too many people blocked this number",
    103: "too many groups created with people who do not have this number in their contacts",
    104: "the same message sent to too many people",
    106: "too many messages to broadcast lists",
}


def exit_for_stream_error(node: Node, *, pairing: bool) -> Exit:
    """The decision for a `<stream:error>`; `pairing` says whether we were waiting for a QR scan."""
    code = _int(node.str_attr("code"))
    conflict = node.find("conflict")
    conflict_type = conflict.str_attr("type") if conflict is not None else None
    first = node.children[0].tag if node.children else None
    detail = f"stream error {code if code is not None else '-'} {first or ''}".rstrip()
    if code == RESTART_REQUIRED:
        return Exit.restart("the edge asked for a restart (515)")
    if conflict_type == "device_removed":
        return Exit.logged_out_("this device was removed on the phone (stream error 401)")
    if code == 401:
        return Exit.lost("stream error 401 without device_removed: reconnecting (keys kept)")
    if conflict_type == "replaced" or code == 440 or (conflict is not None and code is None):
        return Exit.replaced("another connection for this device took over (conflict)")
    if pairing and code == 408:
        return Exit(ExitReason.QR_TIMEOUT, Retry.NEVER, detail="the edge ended pairing: QR codes expired")
    return Exit.lost(detail)


def exit_for_failure(node: Node) -> Exit:
    """The decision for a `<failure>` (the edge refused the login)."""
    reason = _int(node.str_attr("reason"))
    if reason is None:
        return Exit.lost("login failure without a reason")
    if reason == ACCOUNT_GONE and _says_banned(node):
        # The account itself is gone: the device is unlinked with it (keys wiped), and it is a ban.
        header = node.str_attr("logout_message_header") or ""
        return Exit(ExitReason.BANNED, Retry.NEVER, logged_out=True, detail=f"banned (403): {header}".strip())
    if reason in LOGGED_OUT_REASONS:
        return Exit.logged_out_(f"login refused: logged out ({reason})")
    if reason == TEMPORARY_BAN:
        expire = _int(node.str_attr("expire"))
        code = _int(node.str_attr("code"))
        why = TEMPORARY_BAN_CODES.get(code, "no reason given") if code is not None else "no reason given"
        lasts = f"{expire} s" if expire is not None else "an unknown time"
        detail = f"temporarily banned (402, code {code if code is not None else '-'}: {why}) for {lasts}"
        return Exit.temporarily_banned(detail, float(expire) if expire is not None else None)
    if reason == CLIENT_OUTDATED:  # transient by itself; the engine also refreshes the version
        return Exit.lost("login refused (405): client version outdated")
    if reason in CONFIGURATION_REASONS:
        return Exit.failed(f"login refused ({reason}): {CONFIGURATION_REASONS[reason]}")
    if 400 <= reason < 500:
        return Exit.failed(f"login refused ({reason})")
    return Exit.lost(f"login failure {reason}")


def _says_banned(node: Node) -> bool:
    """Whether a 403's texts (shown to the person on the phone) say the account is banned."""
    text = " ".join(node.str_attr(a) or "" for a in ("logout_message_header", "logout_message_subtext"))
    return "banned" in text.lower()


def is_client_outdated(node: Node) -> bool:
    """A `<failure reason="405">`: WhatsApp no longer accepts the version we claimed."""
    return node.tag == "failure" and _int(node.str_attr("reason")) == CLIENT_OUTDATED


def _int(text: str | None) -> int | None:
    if text is None or not (text.isascii() and text.isdigit()) or len(text) > 6:
        return None
    return int(text)
