"""Every key of the single table: partition keys, sort keys and index keys, built here and nowhere else.

Access patterns (`T#{t}` = the tenant's partition; `{s}` session, `{m}` message; gsi keys are sparse):

| entity | pk | sk | GSI keys | access pattern | read and written by |
|---|---|---|---|---|---|
| tenant | `TENANT#{t}` | `TENANT` | gsi1 `TENANTS` / `{t}` | get a tenant (status, quotas); list every tenant (operator API); its `pacing` overrides | store/tenants.py, store/pacing.py (overrides) |
| daily message count | `T#{t}` | `QUOTA#{YYYY-MM-DD}` | | messages accepted that UTC day (the tenant's `messages_per_day` quota), TTL | store/tenants.py |
| retention policy | `T#{t}` | `RETENTION` | | a tenant's retention policy (absent: the defaults) | store/retention.py |
| insights settings | `T#{t}` | `INSIGHTS` | | a tenant's insights settings: the time zone of its reports when a request names none (absent: UTC) | store/insights.py |
| tenant data key | `TENANT#{t}` | `DATAKEY` | gsi1 `DATAKEYS` / `{t}` | the tenant's content data key (wrapped by the Crypto port), or its tombstone once destroyed; every tenant's (rotation re-wraps them) | store/tenant_keys.py |
| API key | `APIKEY#{sha256(key)}` | `APIKEY` | gsi1 `T#{t}#KEYS` / `{key id}` | authenticate a key; list/revoke a tenant's keys | store/tenants.py |
| global stats | `STATS#{slot}` (slot 00..15 of the counted row's id; `STATS` before) | `GLOBAL` | | /health counters (tenants, sessions by status), summed over the slots | store/stats.py |
| request bucket | `THROTTLE#{t}` | `THROTTLE` | | the tenant's API request bucket (`tat`), TTL | store/request_buckets.py |
| tenant counters | `T#{t}` | `COUNTERS` | | per-tenant limits (sessions, webhooks) | store/sessions.py, store/crm_webhooks.py |
| session | `T#{t}` | `SESSION#{s}` | gsi1 `SHARD#{n}` / `SESSION#{t}#{s}` (not for cloud); gsi2 `UNLINKED` / `{created_at:014.3f}#{t}#{s}` until first linked, then `CONNECTED#{slot}` (slot 00..15 of `{s}`) / `SESSION#{t}#{s}` while connected (not for cloud) | get/list a tenant's sessions; a connector lists its shards' sessions; the sweeper finds sessions never linked in time (services/session_expiry.py) and connected sessions whose connector is gone (services/connector_loss.py) | store/sessions.py |
| cloud credentials | `T#{t}#S#{s}` | `CLOUD` | | a cloud session's phone number id, token blob, verify hash | store/cloud.py |
| Evolution instance | `T#{t}#S#{s}` | `EVOLUTION` | | what the Evolution API surface keeps of an instance (its token, sealed; its settings) | store/evolution.py |
| Evolution instance name | `T#{t}` | `EVONAME#{sha256(name)}` | | which session holds an instance name (unique per tenant, even when two creates race) | store/evolution.py |
| Meta route | `METAPNID#{phone number id}` | `METAPNID` | | route a Meta webhook to its tenant/session (one session per number) | store/cloud.py |
| Meta verify token | `METAVERIFY#{sha256(token)}` | `T#{t}#S#{s}` | | is a webhook verify token known | store/cloud.py |
| Meta business account | `METAWABA#{business account id}` | `T#{t}#S#{s}` | | the cloud sessions of one WhatsApp Business Account (template webhooks name the account, not a number) | store/cloud.py |
| Cloud templates | `T#{t}#S#{s}` | `CLOUDTPL` | | a cloud number's Meta templates as the last sync saw them (status, components) | store/cloud_templates.py |
| Cloud pacing | `T#{t}#S#{s}` | `PACE` | | a cloud number's token bucket (`tat`), TTL | store/pacing.py |
| parked status | `T#{t}#S#{s}` | `PARKED#{wamid}#{status}` | | a Meta status that overtook its send; replayed later, TTL | store/cloud.py |
| parked change | `T#{t}#S#{s}` | `PARKEDCHANGE#{target provider id}#{m}` | | an edit, delete or reaction (message `m`) received before the message it names; applied when that one is stored, TTL | store/messages.py |
| provider id | `T#{t}#S#{s}` | `PMID#{provider id}` | | provider message id → message id (dedupe, unique per session) | store/messages.py |
| first-contact peer | `T#{t}#S#{s}` | `PEER#{p}` | | has this number ever written to the person `p` | connector/first_contacts.py |
| first-contact day | `T#{t}#S#{s}` | `FIRSTCONTACT#{YYYY-MM-DD}` | | new recipients that UTC day (cap), TTL | connector/first_contacts.py |
| health day | `T#{t}#S#{s}` | `HEALTH#{YYYY-MM-DD}` | | a number's health signals that UTC day (sent, failed, restricted, refused, rate limited, replies), TTL | store/health.py |
| group | `T#{t}#S#{s}` | `GROUP#{jid}` | | a session's groups, as the newest sync reported them | store/groups.py |
| group sync | `T#{t}#S#{s}` | `GROUPSYNC` | | when the newest group sync landed | store/groups.py |
| group operation | `T#{t}#S#{s}` | `GROUPOP#{operation}` | | a group change the API asked for, and its outcome, TTL | store/groups.py |
| message | `T#{t}` | `MSG#{m}` (ULID: time order) | gsi1 `T#{t}#S#{s}#MSG` / `{m}`; gsi2 `T#{t}#CONV#{c}` / `{m}` | get; list a tenant's, a session's or a conversation's messages by time | store/messages.py |
| media file | `T#{t}` | `MEDIA#{media id}` | | a stored file's metadata (kind, type, size, sha256, state); its bytes are the media store's object `media/{t}/{media id}` | store/media.py |
| send request | `T#{t}` | `SENDKEY#{sha256(Idempotency-Key)}` | | the message a send with this key stored (a retry after a crash finds it instead of sending twice), TTL | store/messages.py |
| due entry | `DUE#{minute}#{slot}` | `{due_at:014.3f}#{t}#{m}` | | the sweeper reads the minutes that fall due | store/due_index.py |
| scheduler cursor | `SCHEDULER` | `CURSOR` | | the last minute entirely swept | store/due_index.py |
| conversation | `T#{t}` | `CONV#{c}` | gsi1 `T#{t}#CONVS` / `{last_at:014.3f}#{c}` | get; list by newest activity | store/conversations.py |
| contact | `T#{t}` | `CONTACT#{p}` | | get/list a tenant's contacts | store/conversations.py |
| number check | `T#{t}` | `NUMCHECK#{check id}` | | a POST /v1/contacts/check: numbers asked, results (sealed), TTL | services/number_check.py |
| number check budget | `T#{t}` | `NUMCHECKS#{epoch hour}` | | numbers the tenant checked that hour (anti-scraping), TTL | services/number_check.py |
| contact search entry | `T#{t}#CSEARCH#{field}#{token}` | `CONTACT#{p}` | | find contacts by a name word, external id or LID (`token`: the tenant's keyed hash of the normalised value, `p` the contact's blind index: never plaintext) | store/contacts.py |
| template | `T#{t}` | `TPL#{name}#{language}` | | get; a name's languages (prefix `TPL#{name}#`); list | store/templates.py |
| reminder plan | `T#{t}` | `REM#{plan}` | | get/list a tenant's reminder plans | store/reminders.py |
| broadcast | `T#{t}` | `BCAST#{b}` (ULID: time order) | | get; list a tenant's broadcasts, newest first; its counters move with its messages | store/broadcasts.py |
| broadcast recipients | `T#{t}#BCAST#{b}` | `PART#{n:05d}` | | the recipients of one broadcast, 500 per row, read as they are turned into messages | store/broadcasts.py |
| pool | `T#{t}` | `POOL#{name}` | | get/list a tenant's pools | store/pools.py |
| pool use | `T#{t}` | `POOLUSE#{s}` | | when a pool last picked a session (LRU) | store/pools.py |
| CRM webhook | `T#{t}` | `WEBHOOK#{w}` | | get/list a tenant's webhooks (secret encrypted) | store/crm_webhooks.py |
| webhook delivery | `T#{t}#WH#{w}` | `DLV#{d}` | gsi1 `T#{t}#WH#{w}#{status}` / `{d}` | a webhook's deliveries, by status | store/crm_webhooks.py |
| outbox row | `T#{t}#S#{s}#OUTBOX` | `{row}` (ULID: time order) | gsi1 `OUTBOX#{n}` / `{row}` | notifications a stored change still owes: a session's (a retry drains them), every tenant's by shard (the sweeper) | store/outbox.py |
| realtime token | `RTTOKEN#{sha256(token)}` | `RTTOKEN` | | check a dashboard token on $connect, TTL | store/realtime.py |
| WS connection | `WSCONN#{connection}` | `WSCONN` | gsi1 `T#{t}#WS` / `{connection}` | a tenant's live dashboard connections, TTL | store/realtime.py |
| shard lease | `LEASE#SHARD#{n}` | `LEASE` | | which connector holds a shard (fence) | connector/leases.py (read: store/leases.py) |
| session lease | `T#{t}#LEASE#{s}` | `LEASE` | | which connector holds a session (fence) | connector/leases.py (read: store/leases.py) |
| connector member | `CONNECTORS` | `MEMBER#{owner}` | | live connectors (heartbeat, TTL) | connector/members.py |
| engine key | `T#{t}#KEYS#{s}` | `{namespace}#{id}` | | a session's protocol keys (encrypted), fenced by its lease | connector/keystore.py |
| erased provider id | `T#{t}#S#{s}` | `ERASED#{keyed hash of the provider id}` | | a message erased with its contact: a late copy of it (inbound retry) is refused, without keeping the id | store/erasure.py |
| tombstone key | `T#{t}` | `TOMBKEY` | | the tenant's secret for keyed hashes of erased ids (wrapped by the Crypto port) | store/erasure.py |
| audit entry | `T#{t}#AUDIT` | `{entry id}` (ULID: time order) | gsi1 `T#{t}#AUDIT#A#{actor}` / `{entry id}`; gsi2 `T#{t}#AUDIT#T#{target}` / `{entry id}` | a tenant's audit log by time, by actor, by target; TTL (retention) | store/audit.py |
| failed-auth counter | `AUTHFAIL#{source ip}` | `{epoch minute}` | | failed authentications from one address in one minute (burst detection), TTL | store/audit.py |
| idempotency record | `IDEMPOTENCY#{hashed key}` | `IDEMPOTENCY` | | Powertools idempotency on the Table port (local) | adapters/local/idempotency_store.py |
| insights rollup | `T#{t}#INS#{D or H}#{scope}` (scope `all`, `S#{s}`, `TPL#{template}`, `B#{broadcast}`) | `{bucket}#{slot}` (UTC `2026-12-07` or `2026-12-07T09`; slot 0, or 0..3 in rows written before the journal) | | counters of one day or hour for the tenant, a session, a template or a broadcast (sent, delivered, read, failed by reason, replied, latency histograms, sessions created/linked, disconnects), added by the journal's folder; a range is one query per scope; TTL (retention: messages) | store/insights.py |
| insights journal entry | `INSJ#{n}` (n: hash of the entry id, 0..7) | `{entry}` (ULID: time order) | | the counters one applied change owes the rollups (tenant, and per cohort time, session and template), written in the change's transaction; the folder adds them to the rollup rows and deletes them in one transaction | store/insights.py |
| connection period | `T#{t}#INS#UP#{s}` | `{connected_at:014.3f}` | | one stretch of a session being connected (start, end): uptime of any range; TTL (retention: messages) | store/insights.py |

`{p}` is a person's blind index (store/blind_index.py): the tenant's keyed hash of their phone number
(or WhatsApp LID), 32 hex characters, so no key holds a phone number. Rows written before it carry the
number itself (`legacy_*` builders); reads fall back to them and `wagate admin encrypt-existing` moves
them (`is_legacy_person_key`). Every other builder returns exactly the bytes stored so far. A key that is a
partition only (for a query) is a `str`; a whole item key is a `Key(pk, sk)`, a tuple, so
`table.get(*key)` and `Update(*key, ...)` work as before.
"""

from __future__ import annotations

import zlib
from typing import NamedTuple


class Key(NamedTuple):
    """The primary key of one item."""

    pk: str
    sk: str


# ---- tenants, API keys, counters ------------------------------------------------------------------

# The /health counters, spread over slots so that no single item takes every status change of a
# reconnect storm (DynamoDB: ~1,000 writes/s per item, and concurrent transactions on one item conflict).
# `STATS` alone is where they were kept before: still read (and summed), no longer written.
STATS = Key("STATS", "GLOBAL")
STATS_SLOTS = 16


def stats_slot(slot: int) -> Key:
    return Key(f"STATS#{slot:02d}", "GLOBAL")


def stats_slot_of(counted_id: str) -> Key:
    """The slot a counted row (a session, a tenant) adds to: stable, spread by a hash of its id."""
    return stats_slot(zlib.crc32(counted_id.encode()) % STATS_SLOTS)


def tenant_partition(tenant_id: str) -> str:
    """The partition of a tenant's own rows (sessions, messages, conversations, templates, ...)."""
    return f"T#{tenant_id}"


def tenant(tenant_id: str) -> Key:
    return Key(f"TENANT#{tenant_id}", "TENANT")


def tenant_data_key(tenant_id: str) -> Key:
    """The tenant's content data key (wrapped), beside the tenant row."""
    return Key(f"TENANT#{tenant_id}", "DATAKEY")


DATA_KEYS_INDEX = "DATAKEYS"
"""gsi1pk of every tenant's data key row (gsi1sk: the tenant id): what a master key rotation re-wraps."""


def tenant_of_key(pk: str, sk: str) -> str | None:
    """The tenant a row belongs to, read off its key; None for rows that are no tenant's (global)."""
    for prefix in ("T#", "TENANT#", "THROTTLE#"):
        if pk.startswith(prefix):
            return pk[len(prefix) :].split("#", 1)[0] or None
    if pk.startswith("DUE#"):
        parts = sk.split("#")
        return parts[1] if len(parts) >= 3 else None
    return None


def request_bucket(tenant_id: str) -> Key:
    """A tenant's API request bucket: its own partition, apart from the tenant's rows."""
    return Key(f"THROTTLE#{tenant_id}", "THROTTLE")


def tenant_counters(tenant_id: str) -> Key:
    return Key(tenant_partition(tenant_id), "COUNTERS")


def retention_policy(tenant_id: str) -> Key:
    return Key(tenant_partition(tenant_id), "RETENTION")


def insights_settings(tenant_id: str) -> Key:
    return Key(tenant_partition(tenant_id), "INSIGHTS")


TENANTS_INDEX = "TENANTS"
"""gsi1pk of every tenant row (gsi1sk: the tenant id): the operator's list of tenants."""


def daily_messages(tenant_id: str, day: str) -> Key:
    """`day`: the UTC day as YYYY-MM-DD; the count of messages the tenant had accepted that day."""
    return Key(tenant_partition(tenant_id), f"QUOTA#{day}")


def api_key(digest: str) -> Key:
    """`digest` is the sha256 hex of the key the caller presents."""
    return Key(f"APIKEY#{digest}", "APIKEY")


def api_keys_index(tenant_id: str) -> str:
    """gsi1pk of a tenant's API keys (gsi1sk: the key id)."""
    return f"{tenant_partition(tenant_id)}#KEYS"


# ---- sessions -------------------------------------------------------------------------------------

SESSION_PREFIX = "SESSION#"


def session(tenant_id: str, session_id: str) -> Key:
    return Key(tenant_partition(tenant_id), f"{SESSION_PREFIX}{session_id}")


def shard_index(shard: int) -> str:
    """gsi1pk of the (non-cloud) session rows of one shard."""
    return f"SHARD#{shard}"


def shard_index_sort(tenant_id: str, session_id: str) -> str:
    """gsi1sk of a session row in its shard's index."""
    return f"{SESSION_PREFIX}{tenant_id}#{session_id}"


UNLINKED_SESSIONS_INDEX = "UNLINKED"
"""gsi2pk of the sessions never linked yet (gsi2sk: unlinked_session_sort): abandoned ones expire."""


def unlinked_session_sort(created_at: float, tenant_id: str, session_id: str) -> str:
    return f"{created_at:014.3f}#{tenant_id}#{session_id}"


def unlinked_before(created_before: float) -> str:
    """The gsi2sk bound below which unlinked sessions were created before `created_before`."""
    return f"{created_before:014.3f}#"


# Once linked, a session's gsi2 is free: while it is `connected` it sits in one of these partitions (by a
# hash of its id, so no single partition takes every connect and disconnect of a reconnect storm), the
# sweeper's view of the sessions whose connector may have died (services/connector_loss.py).
CONNECTED_SLOTS = 16


def connected_sessions(slot: int) -> str:
    """gsi2pk of the connected (non-cloud) sessions of one slot (gsi2sk: shard_index_sort)."""
    return f"CONNECTED#{slot:02d}"


def connected_slot_of(session_id: str) -> int:
    return zlib.crc32(session_id.encode()) % CONNECTED_SLOTS


def session_partition(tenant_id: str, session_id: str) -> str:
    """The partition of a session's side rows (provider ids, groups, pacing, cloud credentials, ...)."""
    return f"{tenant_partition(tenant_id)}#S#{session_id}"


def cloud_credentials(tenant_id: str, session_id: str) -> Key:
    return Key(session_partition(tenant_id, session_id), "CLOUD")


def evolution_instance(tenant_id: str, session_id: str) -> Key:
    return Key(session_partition(tenant_id, session_id), "EVOLUTION")


def evolution_name(tenant_id: str, name_digest: str) -> Key:
    return Key(tenant_partition(tenant_id), f"EVONAME#{name_digest}")


def cloud_templates(tenant_id: str, session_id: str) -> Key:
    return Key(session_partition(tenant_id, session_id), "CLOUDTPL")


def meta_route(phone_number_id: str) -> Key:
    return Key(f"METAPNID#{phone_number_id}", "METAPNID")


def meta_verify_partition(token_digest: str) -> str:
    """`token_digest`: the sha256 hex of a webhook verify token."""
    return f"METAVERIFY#{token_digest}"


def meta_verify(token_digest: str, tenant_id: str, session_id: str) -> Key:
    return Key(meta_verify_partition(token_digest), session_partition(tenant_id, session_id))


META_VERIFY_SORT_PREFIX = "T#"


def meta_account_partition(business_account_id: str) -> str:
    return f"METAWABA#{business_account_id}"


def meta_account(business_account_id: str, tenant_id: str, session_id: str) -> Key:
    """One cloud session of a WhatsApp Business Account; its sort key reads back like a verify token's
    (`session_of_verify_sort`)."""
    return Key(meta_account_partition(business_account_id), session_partition(tenant_id, session_id))


def session_of_verify_sort(sk: str) -> tuple[str, str]:
    """(tenant id, session id) from a meta_verify sort key."""
    tenant_id, _, session_id = sk[len(META_VERIFY_SORT_PREFIX) :].partition("#S#")
    return tenant_id, session_id


def cloud_pace(tenant_id: str, session_id: str) -> Key:
    return Key(session_partition(tenant_id, session_id), "PACE")


def parked_status_prefix(wamid: str) -> str:
    return f"PARKED#{wamid}#"


def parked_status(tenant_id: str, session_id: str, wamid: str, status: object) -> Key:
    return Key(session_partition(tenant_id, session_id), f"{parked_status_prefix(wamid)}{status}")


def parked_change_prefix(target_provider_id: str) -> str:
    return f"PARKEDCHANGE#{target_provider_id}#"


def parked_change(tenant_id: str, session_id: str, target_provider_id: str, message_id: str) -> Key:
    return Key(
        session_partition(tenant_id, session_id), f"{parked_change_prefix(target_provider_id)}{message_id}"
    )


def provider_id(tenant_id: str, session_id: str, provider_message_id: str) -> Key:
    return Key(session_partition(tenant_id, session_id), f"PMID#{provider_message_id}")


PEER_PREFIX = "PEER#"


def first_contact_peer(tenant_id: str, session_id: str, person: str) -> Key:
    """`person`: the recipient's blind index (store/blind_index.py)."""
    return Key(session_partition(tenant_id, session_id), f"{PEER_PREFIX}{person}")


def legacy_first_contact_peer(tenant_id: str, session_id: str, to: str) -> Key:
    """The peer row as written before the blind index: the number itself in the key."""
    return Key(session_partition(tenant_id, session_id), f"{PEER_PREFIX}{to}")


def first_contact_day(tenant_id: str, session_id: str, day: str) -> Key:
    """`day`: the UTC day as YYYY-MM-DD."""
    return Key(session_partition(tenant_id, session_id), f"FIRSTCONTACT#{day}")


HEALTH_PREFIX = "HEALTH#"


def health_day(tenant_id: str, session_id: str, day: str) -> Key:
    """`day`: the UTC day as YYYY-MM-DD."""
    return Key(session_partition(tenant_id, session_id), f"{HEALTH_PREFIX}{day}")


GROUP_PREFIX = "GROUP#"


def group(tenant_id: str, session_id: str, jid: str) -> Key:
    return Key(session_partition(tenant_id, session_id), f"{GROUP_PREFIX}{jid}")


def group_sync(tenant_id: str, session_id: str) -> Key:
    return Key(session_partition(tenant_id, session_id), "GROUPSYNC")


def group_operation(tenant_id: str, session_id: str, operation_id: str) -> Key:
    return Key(session_partition(tenant_id, session_id), f"GROUPOP#{operation_id}")


# ---- messages, due index, conversations, contacts -------------------------------------------------

MESSAGE_PREFIX = "MSG#"


def message(tenant_id: str, message_id: str) -> Key:
    return Key(tenant_partition(tenant_id), f"{MESSAGE_PREFIX}{message_id}")


def media(tenant_id: str, media_id: str) -> Key:
    return Key(tenant_partition(tenant_id), f"MEDIA#{media_id}")


def media_object(tenant_id: str, media_id: str) -> str:
    """The media store's key (S3 object key, local path) of a stored file's bytes."""
    return f"media/{tenant_id}/{media_id}"


def tenant_of_media_object(object_key: str) -> str | None:
    """The tenant a media store key (`media_object`) belongs to; None for any other key."""
    parts = object_key.split("/")
    return parts[1] if len(parts) == 3 and parts[0] == "media" and parts[1] else None


def send_request(tenant_id: str, key_digest: str) -> Key:
    """`key_digest` is the sha256 hex of the Idempotency-Key a send came with."""
    return Key(tenant_partition(tenant_id), f"SENDKEY#{key_digest}")


def session_messages_index(tenant_id: str, session_id: str) -> str:
    """gsi1pk of a session's messages (gsi1sk: the message id)."""
    return f"{session_partition(tenant_id, session_id)}#MSG"


def conversation_messages_index(tenant_id: str, conversation_id: str) -> str:
    """gsi2pk of a conversation's messages (gsi2sk: the message id)."""
    return f"{tenant_partition(tenant_id)}#CONV#{conversation_id}"


def due_partition(minute: int, slot: int) -> str:
    """`minute`: the epoch minute the entries fall due in; `slot` spreads a busy minute."""
    return f"DUE#{minute}#{slot}"


def due_sort(tenant_id: str, message_id: str, due_at: float) -> str:
    return f"{due_at:014.3f}#{tenant_id}#{message_id}"


SCHEDULER_CURSOR = Key("SCHEDULER", "CURSOR")

CONTACT_PREFIX = "CONTACT#"


def conversation(tenant_id: str, conversation_id: str) -> Key:
    return Key(tenant_partition(tenant_id), f"CONV#{conversation_id}")


def conversations_index(tenant_id: str) -> str:
    """gsi1pk of a tenant's conversations, sorted by last activity."""
    return f"{tenant_partition(tenant_id)}#CONVS"


def conversations_index_sort(last_at: float, conversation_id: str) -> str:
    return f"{last_at:014.3f}#{conversation_id}"


def contact(tenant_id: str, person: str) -> Key:
    """`person`: the contact's blind index (store/blind_index.py)."""
    return Key(tenant_partition(tenant_id), f"{CONTACT_PREFIX}{person}")


def legacy_contact(tenant_id: str, phone: str) -> Key:
    """The contact row as written before the blind index: the number (or LID) itself in the key."""
    return Key(tenant_partition(tenant_id), f"{CONTACT_PREFIX}{phone}")


BLIND_INDEX_LENGTH = 32


def is_legacy_person_key(pk: str, sk: str) -> bool:
    """A contact or first-contact peer row still keyed by the number itself (not yet migrated)."""
    if pk.startswith("T#") and "#" not in pk[2:] and sk.startswith(CONTACT_PREFIX):
        rest = sk[len(CONTACT_PREFIX) :]
    elif pk.startswith("T#") and pk.count("#S#") == 1 and "#" not in pk.split("#S#")[1]:
        if not sk.startswith(PEER_PREFIX):
            return False
        rest = sk[len(PEER_PREFIX) :]
    else:
        return False
    hexdigits = "0123456789abcdef"
    return not (len(rest) == BLIND_INDEX_LENGTH and all(c in hexdigits for c in rest))


def number_check(tenant_id: str, check_id: str) -> Key:
    """A POST /v1/contacts/check: the numbers asked and, once the connector answered, the results."""
    return Key(tenant_partition(tenant_id), f"NUMCHECK#{check_id}")


def number_check_window(tenant_id: str, hour: int) -> Key:
    """How many numbers the tenant had checked in one epoch hour (its anti-scraping budget)."""
    return Key(tenant_partition(tenant_id), f"NUMCHECKS#{hour}")


def contact_search(tenant_id: str, field: str, token: str) -> str:
    """The partition of a tenant's contacts whose `field` (name, external_id, lid) has `token` (the keyed
    hash of a normalised word or value: store/contacts.py); each entry's sort key is contact_search_sort."""
    return f"{tenant_partition(tenant_id)}#CSEARCH#{field}#{token}"


def contact_search_sort(person: str) -> str:
    """A search entry's sort key: the contact's own sort key (`person`: its blind index)."""
    return f"{CONTACT_PREFIX}{person}"


# ---- broadcasts (store/broadcasts.py) ---------------------------------------------------------------

BROADCAST_PREFIX = "BCAST#"


def broadcast(tenant_id: str, broadcast_id: str) -> Key:
    return Key(tenant_partition(tenant_id), f"{BROADCAST_PREFIX}{broadcast_id}")


def broadcast_part(tenant_id: str, broadcast_id: str, part: int) -> Key:
    return Key(f"{tenant_partition(tenant_id)}#{BROADCAST_PREFIX}{broadcast_id}", f"PART#{part:05d}")


# ---- templates, reminders, pools ------------------------------------------------------------------

TEMPLATE_PREFIX = "TPL#"


def template_prefix(name: str) -> str:
    """Every language of one template name (names and languages hold no '#')."""
    return f"{TEMPLATE_PREFIX}{name}#"


def template(tenant_id: str, name: str, language: str) -> Key:
    return Key(tenant_partition(tenant_id), f"{template_prefix(name)}{language}")


REMINDER_PREFIX = "REM#"


def reminder_plan(tenant_id: str, plan_id: str) -> Key:
    return Key(tenant_partition(tenant_id), f"{REMINDER_PREFIX}{plan_id}")


POOL_PREFIX = "POOL#"


def pool(tenant_id: str, name: str) -> Key:
    return Key(tenant_partition(tenant_id), f"{POOL_PREFIX}{name}")


def pool_use(tenant_id: str, session_id: str) -> Key:
    return Key(tenant_partition(tenant_id), f"POOLUSE#{session_id}")


# ---- CRM webhooks and their deliveries ------------------------------------------------------------

WEBHOOK_PREFIX = "WEBHOOK#"
DELIVERY_PREFIX = "DLV#"


def webhook(tenant_id: str, webhook_id: str) -> Key:
    return Key(tenant_partition(tenant_id), f"{WEBHOOK_PREFIX}{webhook_id}")


def deliveries_partition(tenant_id: str, webhook_id: str) -> str:
    return f"{tenant_partition(tenant_id)}#WH#{webhook_id}"


def delivery(tenant_id: str, webhook_id: str, delivery_id: str) -> Key:
    return Key(deliveries_partition(tenant_id, webhook_id), f"{DELIVERY_PREFIX}{delivery_id}")


def deliveries_by_status_index(tenant_id: str, webhook_id: str, status: object) -> str:
    """gsi1pk of a webhook's deliveries in one status (gsi1sk: the delivery id)."""
    return f"{deliveries_partition(tenant_id, webhook_id)}#{status}"


# ---- dashboard sockets ----------------------------------------------------------------------------


def realtime_token(token_digest: str) -> Key:
    """`token_digest`: the sha256 hex of the realtime token."""
    return Key(f"RTTOKEN#{token_digest}", "RTTOKEN")


def ws_connection(connection_id: str) -> Key:
    return Key(f"WSCONN#{connection_id}", "WSCONN")


def ws_connections_index(tenant_id: str) -> str:
    """gsi1pk of a tenant's live connections (gsi1sk: the connection id)."""
    return f"{tenant_partition(tenant_id)}#WS"


# ---- connector: leases, members, engine keys ------------------------------------------------------

LEASE_SORT = "LEASE"


def shard_lease(shard: int) -> Key:
    return Key(f"LEASE#SHARD#{shard}", LEASE_SORT)


def session_lease(tenant_id: str, session_id: str) -> Key:
    return Key(f"{tenant_partition(tenant_id)}#LEASE#{session_id}", LEASE_SORT)


MEMBERS_PARTITION = "CONNECTORS"
MEMBER_PREFIX = "MEMBER#"


def member(owner: str) -> Key:
    return Key(MEMBERS_PARTITION, f"{MEMBER_PREFIX}{owner}")


def engine_keys_partition(tenant_id: str, session_id: str) -> str:
    return f"{tenant_partition(tenant_id)}#KEYS#{session_id}"


def engine_key_sort(namespace: str, key_id: str) -> str:
    return f"{namespace}#{key_id}"


# ---- idempotency records (Powertools, on the Table port) ------------------------------------------


def is_idempotency_record(pk: str) -> bool:
    return pk.startswith("IDEMPOTENCY#")


def idempotency_record(hashed_key: str) -> Key:
    return Key(f"IDEMPOTENCY#{hashed_key}", "IDEMPOTENCY")


# ---- the outbox (services/outbox.py) ----------------------------------------------------------------


def outbox_partition(tenant_id: str, session_id: str) -> str:
    """A session's outbox rows: what its stored changes still owe (CRM deliveries, dashboard pushes)."""
    return f"T#{tenant_id}#S#{session_id}#OUTBOX"


def outbox_shard(shard: int) -> str:
    """The gsi1 partition through which the sweeper finds every tenant's outbox rows."""
    return f"OUTBOX#{shard}"


# ---- the audit log (store/audit.py) -----------------------------------------------------------------

OPERATOR_AUDIT_TENANT = "_system"  # the audit partition of what no tenant owns (failed-auth bursts, operator)


def audit_partition(tenant_id: str) -> str:
    return f"{tenant_partition(tenant_id)}#AUDIT"


def audit_entry(tenant_id: str, entry_id: str) -> Key:
    return Key(audit_partition(tenant_id), entry_id)


def audit_actor_index(tenant_id: str, actor: str) -> str:
    """gsi1pk of a tenant's audit entries by one actor (gsi1sk: the entry id)."""
    return f"{audit_partition(tenant_id)}#A#{actor}"


def audit_target_index(tenant_id: str, target: str) -> str:
    """gsi2pk of a tenant's audit entries about one target (gsi2sk: the entry id)."""
    return f"{audit_partition(tenant_id)}#T#{target}"


def failed_auth(source_ip: str, minute: int) -> Key:
    return Key(f"AUTHFAIL#{source_ip}", str(minute))


# ---- insights (store/insights.py) ----------------------------------------------------------------------

INSIGHTS_PREFIX = "INS#"
# Rows written before the journal spread each bucket over 4 slots (by the counted message's id); the
# folder writes slot 0 only, and a read sums whatever slots a bucket has.
INSIGHTS_FOLDED_SLOT = 0
INSIGHTS_SLOTS = 4  # slots a bucket can have (the folder's 0, and 1..3 of rows written before the journal)
INSIGHTS_ALL = "all"
INSIGHTS_JOURNAL_SHARDS = 8


def insights_scope_session(session_id: str) -> str:
    return f"S#{session_id}"


def insights_scope_template(name: str) -> str:
    """Template names hold no '#' (domain/templates.py)."""
    return f"TPL#{name}"


def insights_scope_broadcast(broadcast_id: str) -> str:
    """Broadcast ids are `bc_` + a ULID (services/broadcasts.py)."""
    return f"B#{broadcast_id}"


def insights_partition(tenant_id: str, granularity: str, scope: str) -> str:
    """`granularity`: D (day) or H (hour); `scope`: INSIGHTS_ALL or one of the scope builders above."""
    return f"{tenant_partition(tenant_id)}#{INSIGHTS_PREFIX}{granularity}#{scope}"


def insights_journal(shard: int) -> str:
    return f"INSJ#{shard}"


def insights_journal_entry(entry_id: str) -> Key:
    """An entry's shard is a hash of its id: every shard takes an equal share of the writes."""
    return Key(insights_journal(zlib.crc32(entry_id.encode()) % INSIGHTS_JOURNAL_SHARDS), entry_id)


def insights_row(tenant_id: str, granularity: str, scope: str, bucket: str, slot: int) -> Key:
    return Key(insights_partition(tenant_id, granularity, scope), f"{bucket}#{slot}")


def insights_range(first_bucket: str, last_bucket: str) -> tuple[str, str]:
    """Sort-key bounds of every slot of the buckets first..last (labels sort in time order)."""
    return f"{first_bucket}#", f"{last_bucket}#~"


def connection_periods(tenant_id: str, session_id: str) -> str:
    return f"{tenant_partition(tenant_id)}#{INSIGHTS_PREFIX}UP#{session_id}"


def connection_period(tenant_id: str, session_id: str, connected_at: float) -> Key:
    return Key(connection_periods(tenant_id, session_id), f"{connected_at:014.3f}")


def connection_period_sort(at: float) -> str:
    return f"{at:014.3f}"


# ---- retention (store/retention.py): which rows a tenant's retention policy governs ---------------


def retained_kind(pk: str, sk: str) -> tuple[str, str, bool] | None:
    """(tenant id, policy field, kept from last activity) of a row the retention policy governs, else
    None. Messages and deliveries are kept from when they were written; conversations and contacts from
    their latest activity (every write re-stamps them)."""
    if not pk.startswith("T#"):
        return None
    tenant_id, _, rest = pk[2:].partition("#")
    if not rest:
        if sk.startswith(MESSAGE_PREFIX):
            return tenant_id, "messages", False
        if sk.startswith("CONV#"):
            return tenant_id, "conversations", True
        if sk.startswith(CONTACT_PREFIX):
            return tenant_id, "conversations", True
        if sk.startswith("MEDIA#"):
            return tenant_id, "media", False
        if sk.startswith(BROADCAST_PREFIX):
            return tenant_id, "messages", False
        return None
    if rest.startswith(INSIGHTS_PREFIX):
        return tenant_id, "messages", True  # aggregates of messages: kept as long, from their last write
    if rest.startswith(BROADCAST_PREFIX):
        return tenant_id, "messages", False
    if rest.startswith("WH#") and sk.startswith(DELIVERY_PREFIX):
        return tenant_id, "webhook_deliveries", False
    return None


# ---- erasure (store/erasure.py) ----------------------------------------------------------------------


def erased_provider_id(tenant_id: str, session_id: str, digest: str) -> Key:
    """`digest`: the keyed hash (store/erasure.py) of an erased message's provider id."""
    return Key(session_partition(tenant_id, session_id), f"ERASED#{digest}")


def tombstone_key(tenant_id: str) -> Key:
    return Key(tenant_partition(tenant_id), "TOMBKEY")
