"""One contract for the Crypto port, run against the local key file and KMS (moto), plus each one's own."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from wagate.adapters.aws.kms_crypto import APP_CONTEXT, KmsCrypto
from wagate.adapters.local.file_crypto import FileCrypto
from wagate.domain.errors import InvalidInput, NotFound, TransientError, WagateError
from wagate.envelope import PROVIDER_KMS, pack_header, parse_blob
from wagate.ports import Crypto

CONTEXT = {"tenant": "t_123", "purpose": "engine-keys"}

# Crypto objects are stateless towards the test, so one per test serves every hypothesis example.
examples = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
contexts = st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=4)


@pytest.fixture
def crypto_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A moto KMS client and a fresh symmetric key id."""
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(variable, "testing")
    with mock_aws():
        client = boto3.client("kms", region_name="eu-west-1")
        yield client, client.create_key(Description="wagate test")["KeyMetadata"]["KeyId"]


@pytest.fixture(params=["file", "kms"])
def crypto(request: pytest.FixtureRequest, tmp_path: Path) -> Crypto:
    if request.param == "file":
        return FileCrypto(tmp_path / "keys" / "master.key")
    client, key_id = request.getfixturevalue("crypto_aws")
    return KmsCrypto(lambda: client, key_id)


# ---- the contract -----------------------------------------------------------------------------------


@examples
@given(plaintext=st.binary(max_size=2048), context=contexts)
def test_round_trip(crypto: Crypto, plaintext: bytes, context: dict[str, str]) -> None:
    blob = crypto.encrypt(plaintext, context=context)
    assert plaintext not in blob or len(plaintext) < 8
    assert crypto.decrypt(blob, context=context) == plaintext


def test_context_order_does_not_matter(crypto: Crypto) -> None:
    blob = crypto.encrypt(b"secret", context={"a": "1", "b": "2"})
    assert crypto.decrypt(blob, context={"b": "2", "a": "1"}) == b"secret"


@pytest.mark.parametrize(
    "other",
    [
        {"tenant": "t_999", "purpose": "engine-keys"},
        {"tenant": "t_123"},
        {**CONTEXT, "extra": ""},
        {},
        {"tenant": "t_123", "purpose": "engine-keys "},
    ],
)
def test_another_context_is_refused(crypto: Crypto, other: dict[str, str]) -> None:
    blob = crypto.encrypt(b"secret", context=CONTEXT)
    with pytest.raises(InvalidInput):
        crypto.decrypt(blob, context=other)


def test_encryption_is_randomised(crypto: Crypto) -> None:
    assert crypto.encrypt(b"same", context=CONTEXT) != crypto.encrypt(b"same", context=CONTEXT)


def test_every_tampered_byte_is_refused(crypto: Crypto) -> None:
    blob = crypto.encrypt(b"a webhook secret", context=CONTEXT)
    for index in range(len(blob)):
        for flip in (0x01, 0x80):
            tampered = blob[:index] + bytes((blob[index] ^ flip,)) + blob[index + 1 :]
            with pytest.raises(InvalidInput):
                crypto.decrypt(tampered, context=CONTEXT)


def test_every_truncation_is_refused(crypto: Crypto) -> None:
    blob = crypto.encrypt(b"a cloud api token", context=CONTEXT)
    for cut in range(len(blob)):
        with pytest.raises(InvalidInput):
            crypto.decrypt(blob[:cut], context=CONTEXT)


@examples
@given(blob=st.binary(max_size=400), context=contexts)
def test_arbitrary_bytes_are_refused(crypto: Crypto, blob: bytes, context: dict[str, str]) -> None:
    with pytest.raises(InvalidInput):
        crypto.decrypt(blob, context=context)


@pytest.mark.parametrize("garbage", [b"", b"WG", b"WG\x01", b"WG\x02L" + bytes(80), os.urandom(200)])
def test_garbage_is_refused(crypto: Crypto, garbage: bytes) -> None:
    with pytest.raises(InvalidInput):
        crypto.decrypt(garbage, context=CONTEXT)


def test_context_must_map_strings_to_strings(crypto: Crypto) -> None:
    bad: Any = {"tenant": 123}
    with pytest.raises(InvalidInput):
        crypto.encrypt(b"x", context=bad)


def test_threads_share_one_instance(crypto: Crypto) -> None:
    failures: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(50):
                secret = f"{n}-{i}".encode()
                assert crypto.decrypt(crypto.encrypt(secret, context=CONTEXT), context=CONTEXT) == secret
        except BaseException as exc:  # reported below, not lost in the thread
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures


def test_a_blob_of_the_other_adapter_is_refused(tmp_path: Path, crypto_aws: Any) -> None:
    client, key_id = crypto_aws
    local, kms = FileCrypto(tmp_path / "master.key"), KmsCrypto(lambda: client, key_id)
    with pytest.raises(InvalidInput):
        local.decrypt(kms.encrypt(b"x", context=CONTEXT), context=CONTEXT)
    with pytest.raises(InvalidInput):
        kms.decrypt(local.encrypt(b"x", context=CONTEXT), context=CONTEXT)


# ---- FileCrypto -------------------------------------------------------------------------------------


def test_file_key_is_created_private(tmp_path: Path) -> None:
    key_path = tmp_path / "new" / "dir" / "master.key"
    FileCrypto(key_path)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_path.parent.stat().st_mode) == 0o700
    assert len(key_path.read_bytes()) == 32
    assert [p.name for p in key_path.parent.iterdir()] == ["master.key"]


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_file_key_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    key_path = tmp_path / "master.key"
    FileCrypto(key_path)
    key_path.chmod(mode)
    with pytest.raises(WagateError) as caught:
        FileCrypto(key_path)
    assert caught.value.code == "insecure_key_file"
    assert "chmod 600" in caught.value.message


def test_file_key_of_the_wrong_size_is_refused(tmp_path: Path) -> None:
    key_path = tmp_path / "master.key"
    key_path.write_bytes(b"short")
    key_path.chmod(0o600)
    with pytest.raises(WagateError) as caught:
        FileCrypto(key_path)
    assert caught.value.code == "bad_key_file"


def test_file_key_survives_a_restart_and_names_itself_in_blobs(tmp_path: Path) -> None:
    key_path = tmp_path / "master.key"
    first = FileCrypto(key_path)
    blob = first.encrypt(b"kept", context=CONTEXT)
    again = FileCrypto(key_path)
    assert again.decrypt(blob, context=CONTEXT) == b"kept"
    assert parse_blob(blob).key_id == again.key_id


def test_file_key_created_by_racing_starters_is_one_key(tmp_path: Path) -> None:
    key_path = tmp_path / "keys" / "master.key"
    made: list[FileCrypto] = []
    threads = [threading.Thread(target=lambda: made.append(FileCrypto(key_path))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({crypto.key_id for crypto in made}) == 1
    assert [p.name for p in key_path.parent.iterdir()] == ["master.key"]


def test_file_blob_under_another_master_key_is_refused(tmp_path: Path) -> None:
    blob = FileCrypto(tmp_path / "a.key").encrypt(b"x", context=CONTEXT)
    with pytest.raises(InvalidInput):
        FileCrypto(tmp_path / "b.key").decrypt(blob, context=CONTEXT)


def test_file_data_key_rotates_after_n_uses(tmp_path: Path) -> None:
    crypto = FileCrypto(tmp_path / "master.key", data_key_uses=3)
    blobs = [crypto.encrypt(b"x", context=CONTEXT) for _ in range(7)]
    wrapped = [parse_blob(blob).wrapped_key for blob in blobs]
    assert len(set(wrapped[:3])) == 1 and len(set(wrapped)) == 3
    assert all(crypto.decrypt(blob, context=CONTEXT) == b"x" for blob in blobs)


# ---- KmsCrypto --------------------------------------------------------------------------------------


def count_calls(client: Any) -> dict[str, int]:
    calls: dict[str, int] = {"GenerateDataKey": 0, "Decrypt": 0}

    def seen(model: Any, **_: Any) -> None:
        calls[model.name] = calls.get(model.name, 0) + 1

    client.meta.events.register("before-call.kms", seen)
    return calls


def test_kms_is_called_once_per_data_key_not_per_secret(crypto_aws: Any) -> None:
    client, key_id = crypto_aws
    calls = count_calls(client)
    writer = KmsCrypto(lambda: client, key_id)
    blobs = [writer.encrypt(f"s{i}".encode(), context=CONTEXT) for i in range(20)]
    assert [writer.decrypt(b, context=CONTEXT) for b in blobs] == [f"s{i}".encode() for i in range(20)]
    assert calls == {"GenerateDataKey": 1, "Decrypt": 0}
    reader = KmsCrypto(lambda: client, key_id)  # a cold cache, e.g. another Lambda instance
    assert [reader.decrypt(b, context=CONTEXT) for b in blobs] == [f"s{i}".encode() for i in range(20)]
    assert calls == {"GenerateDataKey": 1, "Decrypt": 1}


def test_kms_data_key_is_bounded_in_uses_and_age(crypto_aws: Any) -> None:
    client, key_id = crypto_aws
    calls = count_calls(client)
    now = [0.0]
    crypto = KmsCrypto(lambda: client, key_id, data_key_max_uses=5, data_key_max_age=60, clock=lambda: now[0])
    for _ in range(10):
        crypto.encrypt(b"x", context=CONTEXT)
    assert calls["GenerateDataKey"] == 2
    now[0] += 61
    blob = crypto.encrypt(b"x", context=CONTEXT)
    assert calls["GenerateDataKey"] == 3
    now[0] += 61  # the unwrapped key has aged out of the cache too
    assert crypto.decrypt(blob, context=CONTEXT) == b"x"
    assert calls["Decrypt"] == 1


def test_kms_wraps_data_keys_under_the_app_context(crypto_aws: Any) -> None:
    client, key_id = crypto_aws
    blob = KmsCrypto(lambda: client, key_id).encrypt(b"x", context=CONTEXT)
    envelope = parse_blob(blob)
    assert client.decrypt(CiphertextBlob=envelope.wrapped_key, EncryptionContext=APP_CONTEXT)["Plaintext"]
    assert key_id in envelope.key_id
    with pytest.raises(client.exceptions.InvalidCiphertextException):
        client.decrypt(CiphertextBlob=envelope.wrapped_key, EncryptionContext={"app": "other"})


def test_kms_client_is_made_on_first_use_only() -> None:
    def factory() -> Any:
        raise AssertionError("no client expected yet")

    KmsCrypto(factory, "alias/wagate")


def test_kms_unknown_key_is_not_found(crypto_aws: Any) -> None:
    client, _ = crypto_aws
    with pytest.raises(NotFound):
        KmsCrypto(lambda: client, "alias/missing").encrypt(b"x", context=CONTEXT)


@pytest.mark.parametrize(
    ("code", "message", "error", "wagate_code"),
    [
        ("ThrottlingException", "", TransientError, None),
        ("KMSInternalException", "", TransientError, None),
        ("DisabledException", "", WagateError, "kms_key_unusable"),
        (
            "AccessDeniedException",
            "User x is not authorized to perform kms:Decrypt",
            WagateError,
            "kms_access_denied",
        ),
        ("InvalidCiphertextException", "", InvalidInput, None),
    ],
)
def test_kms_decrypt_errors_become_domain_errors(
    tmp_path: Path, code: str, message: str, error: type[WagateError], wagate_code: str | None
) -> None:
    client = boto3.client("kms", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    crypto = KmsCrypto(lambda: client, "alias/wagate")
    # A well-formed KMS blob whose data key the cache has never seen.
    blob = pack_header(PROVIDER_KMS, "arn:aws:kms:eu-west-1:1:key/k", b"w" * 40) + bytes(40)
    with Stubber(client) as stubber:
        stubber.add_client_error("decrypt", service_error_code=code, service_message=message)
        with pytest.raises(error) as caught:
            crypto.decrypt(blob, context=CONTEXT)
    assert type(caught.value) is error
    if wagate_code:
        assert caught.value.code == wagate_code


def test_kms_ciphertext_of_something_else_is_refused(crypto_aws: Any) -> None:
    client, key_id = crypto_aws
    # Valid under the app context, but not a 32-byte data key: a substituted wrapped key.
    other = client.encrypt(KeyId=key_id, Plaintext=b"sixteen byte key", EncryptionContext=APP_CONTEXT)
    blob = pack_header(PROVIDER_KMS, "arn:aws:kms:eu-west-1:1:key/k", other["CiphertextBlob"]) + bytes(40)
    with pytest.raises(InvalidInput):
        KmsCrypto(lambda: client, key_id).decrypt(blob, context=CONTEXT)
