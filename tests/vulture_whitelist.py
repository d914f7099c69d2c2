"""Names vulture (`make lint`) reports as unused that are used where it cannot see: read by a framework,
a wire format or a protocol. Each line names why. Anything really dead is deleted, not listed here.

Whole kinds are ignored in pyproject's [tool.vulture] instead: Powertools routes and exception handlers
(decorators), pydantic validators, Lambda entry points, pytest's names, `model_config`.
"""

# pydantic response and row models: fields are read by serialisation (API JSON, Table rows, events).
_.last_message_id  # domain/conversations.py
_.last_message_at
_.last_message_preview
_.last_direction
_.first_seen_at
_.last_seen_at
_.last_session_id
_.issued_at  # domain/events.py
_.message_status  # domain/reminders.py, ports.py (SendResult)
_.status_reason  # domain/sessions.py
_.status_detail
_.pairing_code
_.secret_hint  # domain/crm_webhooks.py
_.attempt_count
_.next_attempt_at
_.last_synced_at  # api/routes/groups.py
_.expires_in  # api/routes/sessions.py
_.file_size  # ports.py (MediaInfo, what Graph returns)
_.retry_in  # connector/engines/base.py (an exit's retry hint, logged)
_.noise_root  # settings.py WebSection: read by iterating the section (engines/web/settings.py)

# Enum members the API accepts by value (POST /v1/sandbox/...).
_.SCAN  # api/routes/sandbox.py
_.DROP
_.BAN
_.TEMP_BAN
_.RESTRICT
_.RATE_LIMIT
_.REPLY
_.ADD  # domain/groups.py GroupAction: POST /v1/sessions/{id}/groups/{jid}/participants takes it by value
_.REMOVE
_.PROMOTE
_.DEMOTE

# Framework hooks, called by name.
_._load_env_vars  # environment.py: pydantic-settings' EnvSettingsSource
_.capture_signals  # local/runner.py: uvicorn.Server
_.should_exit
_.force_exit
_.log_stream_name  # local/functions.py: the Lambda context object's attributes
_.do_GET  # http.server handlers in tests
_.do_POST
_.log_message
_.protocol_version
_.request_queue_size
_.daemon_threads
_.lidDbMigrated  # connector/engines/web/payloads.py: a protobuf field set on the wire message
_.exc_info  # __aexit__(*exc_info)
_.__qualname__  # api/idempotency.py: Powertools keys its records by the function's name
_.queues_aws_credentials  # fixtures requested for their effect
_.often_switching
_.App  # local/asgi.py: the ASGI application type, for readers

# The WhatsApp wire vocabulary: the full tables, so a reader sees every value the protocol has.
_.DICTIONARY_1  # connector/engines/web/binary/tokens.py
_.DICTIONARY_2
_.BOT_SERVER  # connector/engines/web/binary/jid.py
_.MESSENGER_SERVER

# Seams and types other issue 11 work is adopting (remove a line once its name is used).
_.TenantId  # domain/ids.py: the tenant type STYLE asks for
_.CODE_LENGTH  # connector/engines/web/pairing_code.py: linking by phone number, not yet reachable (web-edge)
_.webhook_deliveries  # domain/retention.py: read by getattr(policy, kind) in RetentionPolicy.expires_at
_.ref_key  # connector/engines/web/media/crypto.py: the last part of the media key expansion, for readers
_.max_buckets  # connector/engines/web/media/hosts.py: what media_conn says, kept as read
_.erased_at  # services/erasure.py: ErasureReceipt, answered by DELETE /v1/contacts/{phone}
_.erased  # services/erasure.py: ErasureReceipt
_.exported_at  # services/erasure.py: ContactExport
_.url_expires_at  # domain/media.py: set through model_copy(update=...) in services/media_files.py

# The content model (domain/content.py, domain/cloud_templates.py, domain/messages.py): fields of the typed
# kinds read by serialisation (API JSON, events, webhooks, Table rows), not by name in our code.
_.gif
_.animated
_.option_hashes
_.readable
_.parameter_name
_.currency
_.date_time
_.product_retailer_id
_.quantity
_.item_price
_.catalog_id
_.system_type
_.edited_at
_.category
_.syncing
_.sync_error
# tests/aws/harness.py: moto's global IAM-enforcement setting, put back after the AWS-mode test.
_.INITIAL_NO_AUTH_ACTION_COUNT
# domain/insights.py: the insights report's fields, read by serialisation (GET /v1/insights).
_.p90
_.failed_by_reason
_.replied
_.delivery_rate
_.read_rate
_.reply_rate
_.time_to_delivered
_.time_to_read
_.first_reply_time
_.sessions_created
_.sessions_linked
_.connection_rate
# wagate/evolution/routes/instance.py: Evolution's instance settings, read by serialisation (echoed back).
_.rejectCall
_.msgCall
_.groupsIgnore
_.alwaysOnline
_.readMessages
_.readStatus
_.syncFullHistory
_.wavoipToken
# api/routes/operator.py: the operator's view of a tenant's usage (serialised)
_.messages_today
# PyAV objects configured by attribute (read by FFmpeg, not by Python): connector/engines/web/attachments.py
# and the test media it encodes (tests/connector/web/test_web_attachments.py).
_.thread_type
_.pix_fmt
_.layout
_.pts
_.sample_rate
# domain/conversations.py: a contact's picture link, set from what the engines report (serialised)
_.profile_picture_url
# domain/broadcasts.py: serialised in the API
_.completed_at
# domain/health.py: fields of GET /v1/sessions/{id}/health, serialised by pydantic.
_.slowdown
_.slowdown_enabled
# tests/aws/harness.py: moto's ThreadedMotoServer calls it (overridden to serialise calls)
_._server_entry
