"""The web engine's media path against the fake edge's media hosts, over TLS: media_conn, upload,
download with every check, and the hosts' refusals (bad auth, bad hash, forged or expired links)."""

from __future__ import annotations

import base64
import hashlib
import os
import ssl
from pathlib import Path

import httpx
import pytest

from connector.engines.web.media import (
    MediaHosts,
    MediaIntegrityError,
    MediaKind,
    MediaRef,
    MediaRefused,
    MediaTransferError,
)
from tests.connector.web.harness import Harness, with_edge


def _ref(uploaded: object) -> MediaRef:
    from connector.engines.web.media import UploadedMedia

    assert isinstance(uploaded, UploadedMedia)
    enc = uploaded.encrypted
    return MediaRef(
        media_key=enc.media_key,
        direct_path=uploaded.direct_path,
        file_enc_sha256=enc.file_enc_sha256,
        file_sha256=enc.file_sha256,
        file_length=enc.file_length,
    )


def test_upload_then_download_round_trips_through_the_media_hosts(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        alice = await h.linked("15550001111", "ses_a")
        hosts = alice.engine.media_hosts()
        source = tmp_path / "video.mp4"
        source.write_bytes(os.urandom(3 * 1024 * 1024 + 5))
        uploaded = await hosts.upload(source, MediaKind.VIDEO)
        assert h.edge.media.uploads == [uploaded.direct_path]
        stored = next(iter(h.edge.media.files.values()))
        assert stored.mms_type == "video" and stored.enc_sha256 == uploaded.encrypted.file_enc_sha256
        assert uploaded.encrypted.file_sha256 == hashlib.sha256(source.read_bytes()).digest()

        target = tmp_path / "copy.mp4"
        assert await hosts.download_to_path(_ref(uploaded), MediaKind.VIDEO, target) == source.stat().st_size
        assert target.read_bytes() == source.read_bytes()
        small = await hosts.upload(b"a voice note", MediaKind.PTT)
        assert await hosts.download_bytes(_ref(small), MediaKind.PTT, max_bytes=100) == b"a voice note"
        # One media_conn served every transfer (cached for its ttl).
        assert [e.kind for e in h.edge.events].count("media_conn") == 1
        await alice.running.stop()

    with_edge(body)


def test_an_expired_auth_is_renewed_once_and_the_upload_goes_through() -> None:
    async def body(h: Harness) -> None:
        alice = await h.linked("15550001111", "ses_a")
        hosts = alice.engine.media_hosts()
        await hosts.upload(b"first", MediaKind.IMAGE)
        h.edge.media.expire_auths()
        await hosts.upload(b"second", MediaKind.DOCUMENT)
        assert (401, "auth missing, unknown or expired") in h.edge.media.refused
        assert [e.kind for e in h.edge.events].count("media_conn") == 2
        assert len(h.edge.media.uploads) == 2
        await alice.running.stop()

    with_edge(body)


def test_the_hosts_refuse_bad_auth_and_a_body_that_does_not_match_its_token() -> None:
    async def body(h: Harness) -> None:
        alice = await h.linked("15550001111", "ses_a")
        conn = await alice.engine.media_hosts().media_conn()
        host = conn.hosts[0]
        data = os.urandom(32 + 10)
        token = hashlib.sha256(data).hexdigest()  # not base64url: a wrong token
        async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=h.edge.ca_file)) as client:
            good_token = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode()  # padded: fine
            bad_auth = await client.post(
                f"https://{host}/mms/image/{good_token}?auth=nope&token={good_token}", content=data
            )
            bad_hash = await client.post(
                f"https://{host}/mms/image/{token}", params={"auth": conn.auth, "token": token}, content=data
            )
            padded = await client.post(
                f"https://{host}/mms/image/{good_token}",
                params={"auth": conn.auth, "token": good_token},
                content=data,
            )
        assert (bad_auth.status_code, bad_hash.status_code, padded.status_code) == (401, 400, 200)
        await alice.running.stop()

    with_edge(body)


def test_a_download_that_fails_a_check_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        alice = await h.linked("15550001111", "ses_a")
        hosts = alice.engine.media_hosts()
        uploaded = await hosts.upload(os.urandom(100_000), MediaKind.DOCUMENT)
        ref = _ref(uploaded)
        target = tmp_path / "doc.pdf"

        with pytest.raises(MediaIntegrityError, match="MAC"):  # the wrong kind: other keys
            await hosts.download_to_path(ref, MediaKind.IMAGE, target)
        stored = h.edge.media.files[uploaded.direct_path.split("?")[0]]
        stored.data = stored.data[:500] + bytes([stored.data[500] ^ 1]) + stored.data[501:]
        with pytest.raises(MediaIntegrityError, match="fileEncSha256"):
            await hosts.download_to_path(ref, MediaKind.DOCUMENT, target)
        unchecked = MediaRef(ref.media_key, ref.direct_path)  # no hashes to compare: the MAC still catches it
        with pytest.raises(MediaIntegrityError, match="MAC"):
            await hosts.download_to_path(unchecked, MediaKind.DOCUMENT, target)
        assert list(tmp_path.iterdir()) == []

        forged = MediaRef(ref.media_key, ref.direct_path.replace("oh=", "oh=0"), ref.file_enc_sha256)
        with pytest.raises(MediaRefused) as refused:
            await hosts.download_bytes(forged, MediaKind.DOCUMENT, max_bytes=200_000)
        assert refused.value.details["status"] == 403
        with pytest.raises(MediaIntegrityError, match="more than"):
            await hosts.download_bytes(ref, MediaKind.DOCUMENT, max_bytes=1000)
        with pytest.raises(ValueError, match="outside WhatsApp"):
            await hosts.download_bytes(
                MediaRef(ref.media_key, url="https://example.com/x.enc"), MediaKind.DOCUMENT, max_bytes=1000
            )
        await alice.running.stop()

    with_edge(body)


def test_media_hosts_are_reached_only_over_verified_tls() -> None:
    async def body(h: Harness) -> None:
        alice = await h.linked("15550001111", "ses_a")
        engine_hosts = alice.engine.media_hosts()
        untrusting = MediaHosts(
            lambda node: _answer(engine_hosts, node), verify=ssl.create_default_context(cafile=_other_ca())
        )
        with pytest.raises(MediaTransferError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            await untrusting.upload(b"secret", MediaKind.IMAGE)
        assert h.edge.media.uploads == []
        await alice.running.stop()

    with_edge(body)


async def _answer(hosts: MediaHosts, node: object) -> object:
    conn = await hosts.media_conn()
    from connector.engines.web.binary.node import Node

    media = Node(
        "media_conn", {"auth": conn.auth, "ttl": "300"}, [Node("host", {"hostname": h}) for h in conn.hosts]
    )
    return Node("iq", {"type": "result"}, [media])


def _other_ca() -> str:
    import tempfile

    from tests.fakes.tls import issue

    return issue(Path(tempfile.mkdtemp(prefix="wagate-other-ca-"))).ca_file
