"""Exactly once under kill -9: every accepted message reaches its recipient once, counted by WhatsApp id.

Several sandbox sessions, ~300 messages accepted through `MessageService.accept`; the `python -m connector`
process is killed with SIGKILL mid-burst and restarted (see exactly_once.py). The sandbox journal shows
every id that went on the wire: the recipients (who, like WhatsApp phones, keep an id once) must have
kept each accepted message exactly once, and the wire must carry exactly the accepted ids, none missing.
"""

from __future__ import annotations

from pathlib import Path

from tests.connector import exactly_once


def test_every_accepted_message_is_delivered_exactly_once_across_a_kill_9(tmp_path: Path) -> None:
    report = exactly_once.run(tmp_path, messages=300, per_shard=1, kills=1)
    print(report.summary(), report)
    assert 0 < report.delivered_at_kills[0] < report.accepted, "the kill must land mid-burst"
    assert report.accepted == 300
    assert report.distinct_ids == report.accepted  # raw: the wire carried exactly the accepted ids
    assert report.missing == 0 and report.unexpected == 0
    assert report.duplicated == 0  # no recipient kept a message twice
    assert report.failed == []
    assert report.not_sent_rows == 0  # the events consumer saw every message sent
