"""Deleting a tenant: crypto-shred, then remove every row it owns (an operator action, CLI).

Its sessions are deleted first (the connector logs each out and wipes its protocol keys; those commands are
sealed under the tenant's key). Then shredding destroys the tenant's keys (its content data key, whose
tombstone row stays so no new key is ever made for it, and the tombstone key of store/erasure.py), so
whatever survives anywhere (a backup, a point-in-time copy, a row this sweep missed) can no longer be
read. Then every row of the tenant's partitions goes. The operator's own audit log (tenant `_system`)
records the deletion; the tenant's own log goes with it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from wagate.domain.errors import NotFound
from wagate.ports import Delete
from wagate.store import due_index, keys
from wagate.store.conversations import to_contact
from wagate.store.erasure import rows
from wagate.store.insights import InsightsJournal, InsightsRows

if TYPE_CHECKING:
    from wagate.ports import Table
    from wagate.services.audit import AuditLog
    from wagate.services.sessions import SessionService
    from wagate.store.contacts import ContactSearch


class TenantDeletion:
    def __init__(
        self,
        table: Table,
        sessions: SessionService,
        audit: AuditLog,
        shredders: Sequence[Callable[[str], None]],
        search: ContactSearch | None = None,
    ) -> None:
        self.table = table
        self.sessions = sessions
        self.audit = audit
        self.shredders = shredders
        # The contacts' search entries live in partitions named by keyed hashes (store/contacts.py): found
        # from the contacts, so before the shredding makes those hashes unrecomputable.
        self.search = search

    def delete(self, tenant_id: str) -> dict[str, int]:
        """Raises NotFound for an unknown tenant. Returns how many rows went, by kind. Safe to rerun
        (a deletion cut short finishes on the next run: the tenant row goes last)."""
        if self.table.get(*keys.tenant(tenant_id)) is None:
            raise NotFound(f"tenant {tenant_id} does not exist")
        counts: Counter[str] = Counter()
        tenant_rows = keys.tenant_partition(tenant_id)
        sessions = [str(s["id"]) for s in rows(self.table, tenant_rows, prefix=keys.SESSION_PREFIX)]
        for session_id in sessions:
            try:
                # Before the shredding: the logout command is sealed under the tenant's key.
                self.sessions.delete(tenant_id, session_id)  # logout command, counters
            except NotFound:
                pass
        if self.search is not None:
            counts["contact_search_entries"] += self._drop_search_entries(tenant_id)
        for shred in self.shredders:
            shred(tenant_id)
        for session_id in sessions:
            for partition in (
                keys.session_partition(tenant_id, session_id),
                keys.engine_keys_partition(tenant_id, session_id),
                keys.outbox_partition(tenant_id, session_id),
            ):
                counts["session_rows"] += self._drop(partition)
            self.table.delete(*keys.session_lease(tenant_id, session_id))
            counts["sessions"] += 1
        for partition in InsightsRows(self.table).partitions(tenant_id, sessions):
            counts["insights_rows"] += self._drop(partition)
        for webhook in list(rows(self.table, tenant_rows, prefix=keys.WEBHOOK_PREFIX)):
            counts["webhook_deliveries"] += self._drop(
                keys.deliveries_partition(tenant_id, str(webhook["id"]))
            )
        for key in list(rows(self.table, keys.api_keys_index(tenant_id), index="gsi1")):
            self.table.delete(str(key["pk"]), str(key["sk"]))
            counts["api_keys"] += 1
        for connection in list(rows(self.table, keys.ws_connections_index(tenant_id), index="gsi1")):
            self.table.delete(str(connection["pk"]), str(connection["sk"]))
        for item in list(rows(self.table, tenant_rows, prefix=keys.MESSAGE_PREFIX)):
            if item.get("scheduled_at") is not None:
                self.table.delete(*due_index.key(tenant_id, str(item["id"]), float(item["scheduled_at"])))
        counts["rows"] += self._drop(tenant_rows)
        counts["audit_entries"] += self._drop(keys.audit_partition(tenant_id))
        self.table.delete(*keys.tenant(tenant_id))
        # Its journal entries name it: with the tenant row gone, folding drops them (store/insights.py).
        InsightsJournal(self.table).fold()
        self.table.update(*keys.STATS, add={"tenants": -1})
        self.audit.operator(keys.OPERATOR_AUDIT_TENANT, "tenant.deleted", target=tenant_id)
        scrub = getattr(self.table, "scrub", None)  # the local table's files (adapters/local/sqlite_table.py)
        if callable(scrub):
            scrub()
        return dict(counts)

    def _drop_search_entries(self, tenant_id: str) -> int:
        assert self.search is not None
        gone = 0
        for item in list(rows(self.table, keys.tenant_partition(tenant_id), prefix=keys.CONTACT_PREFIX)):
            contact = to_contact(item)
            for op in self.search.ops(tenant_id, contact.phone, contact.model_dump(mode="json"), {}):
                if isinstance(op, Delete) and self.table.delete(op.pk, op.sk) is not None:
                    gone += 1
        return gone

    def _drop(self, partition: str) -> int:
        gone = 0
        for item in list(rows(self.table, partition)):
            self.table.delete(str(item["pk"]), str(item["sk"]))
            gone += 1
        return gone
