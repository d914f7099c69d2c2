"""Meta Cloud API rows: a cloud session's credentials, the phone-number-id route of Meta's webhooks,
webhook verify tokens, the sessions of each business account (template webhooks are addressed to the
account), and statuses parked until their send is recorded (keys: store/keys.py).

Secrets arrive here already encrypted (Crypto blobs); no plaintext secret reaches the Table. The
credentials row's `verify_hash` is the partition of that session's verify-token row.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from wagate.conditions import Attr, Condition, SortKey, item_exists
from wagate.ports import Delete, Item, Put, Table, Update
from wagate.store import keys


@dataclass(frozen=True)
class CredentialsRow:
    phone_number_id: str
    business_account_id: str
    access_token: bytes  # a Crypto blob
    verify_hash: str | None  # the verify-token row's partition, when a verify token was given


@dataclass(frozen=True)
class RouteRow:
    tenant_id: str
    session_id: str
    app_secret: bytes | None  # a Crypto blob


@dataclass(frozen=True)
class ParkedStatus:
    key: keys.Key
    event: str  # the SessionEvent, as JSON


def verify_partition(token: str) -> str:
    return keys.meta_verify_partition(hashlib.sha256(token.encode()).hexdigest())


class CloudRepository:
    def __init__(self, table: Table) -> None:
        self.table = table

    # ---- credentials --------------------------------------------------------------------------------

    def credentials(self, tenant_id: str, session_id: str) -> CredentialsRow | None:
        item = self.table.get(*keys.cloud_credentials(tenant_id, session_id))
        if item is None:
            return None
        verify_hash = item.get("verify_hash")
        return CredentialsRow(
            phone_number_id=str(item["phone_number_id"]),
            business_account_id=str(item["business_account_id"]),
            access_token=bytes(item["access_token"]),
            verify_hash=str(verify_hash) if verify_hash else None,
        )

    @staticmethod
    def put_credentials(
        tenant_id: str,
        session_id: str,
        *,
        phone_number_id: str,
        business_account_id: str,
        access_token: bytes,
        verify_hash: str | None,
    ) -> Put:
        pk, sk = keys.cloud_credentials(tenant_id, session_id)
        item: Item = {
            "pk": pk,
            "sk": sk,
            "tenant_id": tenant_id,
            "session_id": session_id,
            "phone_number_id": phone_number_id,
            "business_account_id": business_account_id,
            "access_token": access_token,
        }
        if verify_hash is not None:
            item["verify_hash"] = verify_hash
        return Put(item)

    @staticmethod
    def change_credentials(tenant_id: str, session_id: str, changes: dict[str, object]) -> Update:
        """Only while the row exists (the session was not deleted meanwhile)."""
        return Update(*keys.cloud_credentials(tenant_id, session_id), set=changes, condition=item_exists())

    @staticmethod
    def delete_credentials(tenant_id: str, session_id: str) -> Delete:
        return Delete(*keys.cloud_credentials(tenant_id, session_id))

    def remove_credentials(self, tenant_id: str, session_id: str) -> None:
        self.table.delete(*keys.cloud_credentials(tenant_id, session_id))

    # ---- routes by phone number id ------------------------------------------------------------------

    def route(self, phone_number_id: str) -> RouteRow | None:
        item = self.table.get(*keys.meta_route(phone_number_id))
        if item is None:
            return None
        blob = item.get("app_secret")
        secret = bytes(blob) if blob is not None else None
        return RouteRow(str(item["tenant_id"]), str(item["session_id"]), secret)

    @staticmethod
    def put_route(
        phone_number_id: str,
        tenant_id: str,
        session_id: str,
        app_secret: bytes | None,
        *,
        condition: Condition,
    ) -> Put:
        pk, sk = keys.meta_route(phone_number_id)
        item: Item = {"pk": pk, "sk": sk, "tenant_id": tenant_id, "session_id": session_id}
        if app_secret is not None:
            item["app_secret"] = app_secret
        return Put(item, condition=condition)

    @staticmethod
    def change_route_secret(phone_number_id: str, session_id: str, app_secret: bytes) -> Update:
        """Only while the route is still this session's."""
        return Update(
            *keys.meta_route(phone_number_id),
            set={"app_secret": app_secret},
            condition=Attr("session_id").eq(session_id),
        )

    @staticmethod
    def delete_route(phone_number_id: str, session_id: str) -> Delete:
        """Only while the route is still this session's."""
        return Delete(*keys.meta_route(phone_number_id), condition=Attr("session_id").eq(session_id))

    # ---- webhook verify tokens ----------------------------------------------------------------------

    @staticmethod
    def put_verify(partition: str, tenant_id: str, session_id: str) -> Put:
        sk = keys.session_partition(tenant_id, session_id)
        return Put({"pk": partition, "sk": sk, "tenant_id": tenant_id})

    @staticmethod
    def delete_verify(partition: str, tenant_id: str, session_id: str) -> Delete:
        return Delete(partition, keys.session_partition(tenant_id, session_id))

    def sessions_with_verify_token(self, token: str) -> list[tuple[str, str]]:
        """(tenant id, session id) of sessions given this verify token (at most 25)."""
        page = self.table.query(
            verify_partition(token), sk=SortKey.prefix(keys.META_VERIFY_SORT_PREFIX), limit=25
        )
        return [keys.session_of_verify_sort(str(row["sk"])) for row in page.items]

    # ---- sessions of a WhatsApp Business Account ---------------------------------------------------

    @staticmethod
    def put_account(business_account_id: str, tenant_id: str, session_id: str) -> Put:
        pk, sk = keys.meta_account(business_account_id, tenant_id, session_id)
        return Put({"pk": pk, "sk": sk, "tenant_id": tenant_id, "session_id": session_id})

    def ensure_account(self, business_account_id: str, tenant_id: str, session_id: str) -> None:
        """Writes the index row (sessions created before the index existed get theirs on a token check)."""
        self.table.put(self.put_account(business_account_id, tenant_id, session_id).item)

    @staticmethod
    def delete_account(business_account_id: str, tenant_id: str, session_id: str) -> Delete:
        return Delete(*keys.meta_account(business_account_id, tenant_id, session_id))

    def remove_account(self, business_account_id: str, tenant_id: str, session_id: str) -> None:
        self.table.delete(*keys.meta_account(business_account_id, tenant_id, session_id))

    def sessions_of_account(self, business_account_id: str, limit: int = 100) -> list[tuple[str, str]]:
        """(tenant id, session id) of the cloud sessions linked with numbers of this business account."""
        page = self.table.query(
            keys.meta_account_partition(business_account_id),
            sk=SortKey.prefix(keys.META_VERIFY_SORT_PREFIX),
            limit=limit,
        )
        return [keys.session_of_verify_sort(str(row["sk"])) for row in page.items]

    # ---- statuses parked until their send is recorded -----------------------------------------------

    def park(
        self, tenant_id: str, session_id: str, wamid: str, status: object, event: str, expires_at: int
    ) -> None:
        pk, sk = keys.parked_status(tenant_id, session_id, wamid, status)
        self.table.put({"pk": pk, "sk": sk, "event": event, "expires_at": expires_at})

    def parked(self, tenant_id: str, session_id: str, wamid: str) -> list[ParkedStatus]:
        page = self.table.query(
            keys.session_partition(tenant_id, session_id), sk=SortKey.prefix(keys.parked_status_prefix(wamid))
        )
        return [ParkedStatus(keys.Key(str(i["pk"]), str(i["sk"])), str(i["event"])) for i in page.items]

    def unpark(self, parked: ParkedStatus) -> None:
        self.table.delete(*parked.key)
