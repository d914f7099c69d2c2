"""Cloud API sessions: created with encrypted credentials, found by phone number id, checked with their token.

Rows: store/cloud.py (keys and access patterns: store/keys.py), beside the session row (a `cloud` row has
no shard index entry: no connector serves it): the credentials (access token as a Crypto blob), one route
per phone number id across tenants (so webhooks route by it, with the app secret as a Crypto blob), and
the session's webhook verify token.
Blobs are encrypted with the context {tenant_id, session_id, purpose}; no secret reaches the Table in
plaintext, and none is ever returned by the API. The token check (`check`) is `GET /{phone-number-id}`:
its outcome is a session event (connection_success, or session_failed with the reason), applied by the
events code path like a connector's.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr

from wagate.cloud.errors import CloudApiError, token_usable
from wagate.conditions import Attr, Condition, item_absent
from wagate.domain.errors import ConflictError, NotFound
from wagate.domain.events import EventType, SessionEvent
from wagate.domain.ids import new_id
from wagate.domain.sessions import Provider, Session
from wagate.ports import Clock, Crypto, Table, TransactOp
from wagate.services.sessions import SessionService
from wagate.store.cloud import CloudRepository, verify_partition

if TYPE_CHECKING:
    from wagate.ports import GraphClient

GraphId = Annotated[str, Field(pattern=r"^\d{5,30}$", description="A numeric Meta id")]


def _visible_ascii(value: SecretStr) -> SecretStr:
    """Meta's tokens and secrets are visible ASCII: a pasted '…' (a shortened copy), a space or a line
    break would be accepted and then fail every call. Refused here, naming the field."""
    if not token_usable(value.get_secret_value()):
        raise ValueError(
            "must be exactly as Meta shows it: visible ASCII characters only, no spaces, line breaks or "
            "'…' (copy the whole value, not a shortened one)"
        )
    return value


AccessToken = Annotated[
    SecretStr,
    Field(
        min_length=20,
        max_length=4096,
        description="A Meta system user token (visible ASCII); stored encrypted, never returned",
    ),
    AfterValidator(_visible_ascii),
]
AppSecret = Annotated[
    SecretStr,
    Field(min_length=16, max_length=256, description="The Meta app's secret: checks webhook signatures"),
    AfterValidator(_visible_ascii),
]
VerifyToken = Annotated[
    SecretStr,
    Field(min_length=8, max_length=256, description="What Meta sends as hub.verify_token when subscribing"),
    AfterValidator(_visible_ascii),
]
_CACHE_LIMIT = 4096


class CloudCredentials(BaseModel):
    """What a Cloud API number needs. Secrets are SecretStr: they never appear in reprs or logs."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    phone_number_id: GraphId
    business_account_id: GraphId
    access_token: AccessToken
    app_secret: AppSecret | None = None
    verify_token: VerifyToken | None = None


@dataclass(frozen=True)
class CloudAccess:
    phone_number_id: str
    business_account_id: str
    token: str


@dataclass(frozen=True)
class Route:
    """Where Meta's webhooks for one phone number id go, and the secret that signs them (if any)."""

    tenant_id: str
    session_id: str
    app_secret: bytes | None


def _context(tenant_id: str, session_id: str, purpose: str) -> dict[str, str]:
    return {"tenant_id": tenant_id, "session_id": session_id, "purpose": purpose}


class CloudSessionService:
    def __init__(self, table: Table, crypto: Crypto, clock: Clock, sessions: SessionService) -> None:
        self.table = table
        self.crypto = crypto
        self.clock = clock
        self.sessions = sessions
        self.rows = CloudRepository(table)

    def create(
        self,
        tenant_id: str,
        *,
        name: str,
        phone: str | None,
        metadata: dict[str, Any],
        credentials: CloudCredentials,
    ) -> Session:
        """Stores the session (status pending) and asks for its token check. Raises ConflictError
        `phone_number_id_taken` when another live session has the number, LimitExceeded at the limit."""
        session_id = new_id("ses", self.clock.now())
        pnid = credentials.phone_number_id
        seal = self._sealer(tenant_id, session_id)
        app_secret = None
        if credentials.app_secret is not None:
            app_secret = seal("meta_app_secret", credentials.app_secret)
        partition = None
        if credentials.verify_token is not None:
            partition = verify_partition(credentials.verify_token.get_secret_value())
        ops: list[TransactOp] = [
            self.rows.put_credentials(
                tenant_id,
                session_id,
                phone_number_id=pnid,
                business_account_id=credentials.business_account_id,
                access_token=seal("cloud_access_token", credentials.access_token),
                verify_hash=partition,
            ),
            self.rows.put_route(
                pnid, tenant_id, session_id, app_secret, condition=self._route_free(tenant_id, pnid)
            ),
            self.rows.put_account(credentials.business_account_id, tenant_id, session_id),
        ]
        if partition is not None:
            ops.append(self.rows.put_verify(partition, tenant_id, session_id))
        try:
            return self.sessions.create(
                tenant_id,
                name=name,
                provider=Provider.CLOUD,
                phone=phone,
                metadata=metadata,
                session_id=session_id,
                extra=ops,
            )
        except ConflictError as exc:
            raise _taken(pnid) from exc

    def replace_secrets(
        self,
        tenant_id: str,
        session_id: str,
        *,
        access_token: SecretStr,
        app_secret: SecretStr | None = None,
        verify_token: SecretStr | None = None,
    ) -> Session:
        """New secrets for a cloud session (an expired token: the "needs attention" fix), then a new
        token check. Omitted app_secret / verify_token keep theirs. Raises NotFound, ConflictError
        `not_cloud`. Warm webhook Lambdas may check signatures with the old app secret for a minute."""
        session = self.sessions.get(tenant_id, session_id)
        creds = self.rows.credentials(tenant_id, session_id)
        if session.provider != Provider.CLOUD or creds is None:
            raise ConflictError(f"session {session_id} is not a Cloud API session", code="not_cloud")
        seal = self._sealer(tenant_id, session_id)
        changes: dict[str, Any] = {"access_token": seal("cloud_access_token", access_token)}
        pnid = creds.phone_number_id
        ops: list[TransactOp] = []
        if app_secret is not None:
            ops.append(self.rows.change_route_secret(pnid, session_id, seal("meta_app_secret", app_secret)))
        if verify_token is not None:
            partition = verify_partition(verify_token.get_secret_value())
            if creds.verify_hash and creds.verify_hash != partition:
                ops.append(self.rows.delete_verify(creds.verify_hash, tenant_id, session_id))
            ops.append(self.rows.put_verify(partition, tenant_id, session_id))
            changes["verify_hash"] = partition
        ops.insert(0, self.rows.change_credentials(tenant_id, session_id, changes))
        try:
            self.table.transact_write(ops)
        except ConflictError as exc:
            raise NotFound(f"session {session_id} was deleted meanwhile") from exc
        return self.sessions.connect(tenant_id, session_id)

    def access(self, tenant_id: str, session_id: str) -> CloudAccess:
        """The decrypted credentials of a session. Raises NotFound when it has none."""
        creds = self.rows.credentials(tenant_id, session_id)
        if creds is None:
            raise NotFound(f"session {session_id} has no Cloud API credentials")
        token = self.crypto.decrypt(
            creds.access_token, context=_context(tenant_id, session_id, "cloud_access_token")
        )
        return CloudAccess(creds.phone_number_id, creds.business_account_id, token.decode())

    def route(self, phone_number_id: str) -> Route | None:
        """The session Meta's webhooks for this number belong to (None: unknown number)."""
        row = self.rows.route(phone_number_id)
        if row is None:
            return None
        tenant_id, session_id = row.tenant_id, row.session_id
        blob = row.app_secret
        secret = None
        if blob is not None:
            secret = _decrypt_cached(
                self.crypto, bytes(blob), _context(tenant_id, session_id, "meta_app_secret")
            )
        return Route(tenant_id, session_id, secret)

    def verify_token_known(self, token: str) -> bool:
        """Whether some live cloud session was given this webhook verify token."""
        return any(
            self.sessions.rows.exists(tenant_id, session_id)
            for tenant_id, session_id in self.rows.sessions_with_verify_token(token)
        )

    def forget(self, tenant_id: str, session_id: str) -> None:
        """Removes a deleted session's credentials and index rows (the number may be linked again)."""
        creds = self.rows.credentials(tenant_id, session_id)
        if creds is None:
            return
        ops: list[TransactOp] = [
            self.rows.delete_credentials(tenant_id, session_id),
            self.rows.delete_account(creds.business_account_id, tenant_id, session_id),
        ]
        route = self.rows.route(creds.phone_number_id)
        if route is not None and route.session_id == session_id:
            ops.append(self.rows.delete_route(creds.phone_number_id, session_id))
        if creds.verify_hash:
            ops.append(self.rows.delete_verify(creds.verify_hash, tenant_id, session_id))
        try:
            self.table.transact_write(ops)
        except ConflictError:
            self.rows.remove_credentials(tenant_id, session_id)  # the route moved on meanwhile
            self.rows.remove_account(creds.business_account_id, tenant_id, session_id)

    def account_sessions(self, business_account_id: str) -> list[Route]:
        """The live sessions of a WhatsApp Business Account, each with its app secret (template webhooks
        are addressed to the account: each session's secret must have signed what it applies)."""
        found = []
        for tenant_id, session_id in self.rows.sessions_of_account(business_account_id):
            creds = self.rows.credentials(tenant_id, session_id)
            if creds is None or creds.business_account_id != business_account_id:
                continue  # deleted meanwhile (its index row goes with its cleanup)
            route = self.route(creds.phone_number_id)
            if route is None or route.session_id != session_id or route.tenant_id != tenant_id:
                continue
            found.append(route)
        return found

    def check(self, graph: GraphClient, tenant_id: str, session_id: str) -> SessionEvent:
        """The token check as a session event. Raises TransientError (GraphUnavailable, RateLimited):
        retry later. A permanent Graph answer is a `session_failed` with its reason (token_invalid…)."""
        access = self.access(tenant_id, session_id)
        # Sessions created before the business-account index existed get their row here (idempotent).
        self.rows.ensure_account(access.business_account_id, tenant_id, session_id)
        now = self.clock.now()
        try:
            number = graph.phone_number(access.phone_number_id, access.token)
        except CloudApiError as exc:
            if exc.is_transient:
                raise
            data = {"status": "failed", "reason": exc.code, "detail": exc.message, "needs_attention": True}
            return SessionEvent(
                type=EventType.SESSION_FAILED, tenant_id=tenant_id, session_id=session_id, at=now, data=data
            )
        digits = "".join(ch for ch in number.display_phone_number or "" if ch.isdigit())
        connected = {
            "status": "connected",
            "phone": f"+{digits}" if digits else None,
            "jid": f"{digits}@s.whatsapp.net" if digits else None,
            "name": number.verified_name,
            "quality_rating": number.quality_rating,
        }
        return SessionEvent(
            type=EventType.CONNECTION_SUCCESS,
            tenant_id=tenant_id,
            session_id=session_id,
            at=now,
            data=connected,
        )

    # ---- plumbing -----------------------------------------------------------------------------------

    def _sealer(self, tenant_id: str, session_id: str) -> Any:
        def seal(purpose: str, secret: SecretStr) -> bytes:
            plaintext = secret.get_secret_value().encode()
            return self.crypto.encrypt(plaintext, context=_context(tenant_id, session_id, purpose))

        return seal

    def _route_free(self, tenant_id: str, phone_number_id: str) -> Condition:
        """The condition under which this number's route may be written: absent, or left by a deleted
        session (its cleanup did not run). Raises ConflictError when a live session holds it."""
        current = self.rows.route(phone_number_id)
        if current is None:
            return item_absent()
        holder_tenant, holder = current.tenant_id, current.session_id
        if self.sessions.rows.exists(holder_tenant, holder):
            raise _taken(phone_number_id, holder if holder_tenant == tenant_id else None)
        return Attr("session_id").eq(holder)


def _taken(phone_number_id: str, session_id: str | None = None) -> ConflictError:
    where = f"session {session_id}" if session_id else "another wagate session"
    return ConflictError(
        f"phone_number_id {phone_number_id} is already linked to {where}; delete that session first",
        code="phone_number_id_taken",
        details={"phone_number_id": phone_number_id, "session_id": session_id},
    )


# App secrets are read on every webhook; KMS (or AES-GCM) per request would cost more than the request.
# Keyed by the blob itself, so a new secret (a new blob) is never served from the cache.
_secrets: dict[bytes, bytes] = {}
_secrets_lock = threading.Lock()


def _decrypt_cached(crypto: Crypto, blob: bytes, context: dict[str, str]) -> bytes:
    key = hashlib.sha256(blob + repr(sorted(context.items())).encode()).digest()
    found = _secrets.get(key)
    if found is None:
        found = crypto.decrypt(blob, context=context)
        with _secrets_lock:
            if len(_secrets) >= _CACHE_LIMIT:
                _secrets.clear()
            _secrets[key] = found
    return found
