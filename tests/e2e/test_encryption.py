"""Client-side age encryption (interop with Debian's `age` CLI) and S3 server-side encryption."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import boto3
import pytest
from pymongo import MongoClient

from backupnimbus.adapters.age_cipher import AgeCipher
from backupnimbus.adapters.clock import SystemClock
from backupnimbus.adapters.compression import FastCompressor
from backupnimbus.adapters.env_secrets import Base64EnvSecrets
from backupnimbus.adapters.fake_archive import fake_archive
from backupnimbus.adapters.memory import FakeClock, FakeDumpRunner, InMemoryObjectStore
from backupnimbus.domain.manifest_codec import decode_manifest, encode_manifest
from backupnimbus.domain.models import BackupRequest, Manifest, ServerSideEncryption, SourceInfo
from backupnimbus.domain.run_backup import BackupSettings, RunBackup
from backupnimbus.entrypoints.config import load_config
from backupnimbus.errors import ConfigInvalidError, DeadlineExceededError, DumpFailedError
from tests.support.age_keys import KeyPair, age_tool, new_keypair
from tests.support.bson_corpus import raw_documents, seed_every_type
from tests.support.cli import REGION, b64, run_cli
from tests.support.servers import Secantus
from tests.support.testdata import TESTDATA

MULTI_DB_GZ = TESTDATA / "mongodump-100.8.0__multi-db.archive.gz"
MULTI_DB_COUNTS = {"shop.orders": 5000, "shop.users": 200, "analytics.events_2025": 300}
AGE_MAGIC = b"age-encryption.org/v1\n"


@pytest.fixture
def alice(tmp_path: Path) -> KeyPair:
    return new_keypair(tmp_path / "keys", "alice")


@pytest.fixture
def bob(tmp_path: Path) -> KeyPair:
    return new_keypair(tmp_path / "keys", "bob")


@pytest.fixture
def client(secantus: Secantus) -> MongoClient[Any]:
    return MongoClient(secantus.uri)


def _backup(env: dict[str, str], database: str) -> dict[str, Any]:
    completed = run_cli(["run", "--json"], {**env, "MONGODUMP_NS_INCLUDE": f"{database}.*"})
    assert completed.returncode == 0, completed.stderr
    return dict(json.loads(completed.stdout))


def _reader_env(backup_env: dict[str, str], secantus: Secantus) -> dict[str, str]:
    """The verify/restore side: no MONGO_URI and, above all, no AGE_RECIPIENTS needed."""
    env = {k: v for k, v in backup_env.items() if k != "MONGO_URI"}
    return {**env, "RESTORE_TARGET_URI": b64(secantus.uri)}


def _cli(args: list[str], env: dict[str, str], *secrets: str) -> tuple[int, dict[str, Any], str]:
    completed = run_cli([*args, "--json"], env)
    output = completed.stdout + completed.stderr
    assert "Traceback" not in output
    for secret in secrets:
        assert secret not in output
    return completed.returncode, json.loads(completed.stdout or "{}"), completed.stderr


def _renamed(database: str, target: str) -> list[str]:
    return ["--ns-from", f"{database}.*", "--ns-to", f"{target}.*"]


def _same_documents(client: MongoClient[Any], source: str, target: str) -> None:
    for collection in ("every_type", "capped_log", "people"):
        assert raw_documents(client[target], collection) == raw_documents(
            client[source], collection
        ), collection


# -- interop with the age CLI --------------------------------------------------------------


@pytest.mark.e2e
def test_a_backup_decrypts_with_the_age_cli_into_mongorestore(
    client: MongoClient[Any], database: str, backup_env: dict[str, str], s3: Any, bucket: str,
    mongo_tools: Path, secantus: Secantus, alice: KeyPair, tmp_path: Path,
) -> None:  # fmt: skip
    seed_every_type(client[database])

    backup = _backup({**backup_env, "AGE_RECIPIENTS": alice.public_key}, database)

    assert backup["key"].endswith(".archive.gz.age")
    stored = s3.get_object(Bucket=bucket, Key=backup["key"])["Body"].read()
    assert stored.startswith(AGE_MAGIC)
    manifest = json.loads(
        s3.get_object(Bucket=bucket, Key=backup["key"] + ".manifest.json")["Body"].read()
    )
    assert manifest["encrypted"] is True
    assert manifest["recipients"] == [alice.public_key]
    assert manifest["sha256"] == hashlib.sha256(stored).hexdigest()
    assert manifest["size"] == len(stored)
    encrypted = tmp_path / "backup.archive.gz.age"
    encrypted.write_bytes(stored)
    target = f"{database}_age"
    # age -d ... | mongorestore --archive --gzip: nothing of BackupNimbus on the way back.
    age = subprocess.Popen(
        [age_tool("age"), "-d", "-i", str(alice.identity_file), str(encrypted)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert age.stdout is not None
    restored = subprocess.run(
        [str(mongo_tools / "mongorestore"), f"--uri={secantus.uri}", "--archive", "--gzip",
         *[f"--nsFrom={database}.*", f"--nsTo={target}.*"]],
        stdin=age.stdout, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    age.stdout.close()
    assert age.wait(timeout=60) == 0, age.stderr.read() if age.stderr else ""
    assert restored.returncode == 0, restored.stderr
    _same_documents(client, database, target)


@pytest.mark.e2e
def test_a_file_encrypted_by_the_age_cli_verifies_and_restores(
    client: MongoClient[Any], database: str, secantus: Secantus, mongo_tools: Path,
    alice: KeyPair, tmp_path: Path,
) -> None:  # fmt: skip
    encrypted = tmp_path / "multi-db.archive.gz.age"
    subprocess.run(
        [age_tool("age"), "-r", alice.public_key, "-o", str(encrypted), str(MULTI_DB_GZ)],
        check=True, capture_output=True,
    )  # fmt: skip
    # No bucket, no Mongo source, no recipients: only the identity, once as a file, once as b64.
    by_file = {"AGE_IDENTITY_FILE": str(alice.identity_file),
               "LOCAL_BACKUP_DIR": str(tmp_path / "none")}  # fmt: skip
    by_value = {"AGE_IDENTITY": b64(alice.identity_file.read_text()),
                "LOCAL_BACKUP_DIR": str(tmp_path / "none"),
                "MONGORESTORE_PATH": str(mongo_tools / "mongorestore")}  # fmt: skip

    verify_code, report, verify_err = _cli(
        ["verify", "--file", str(encrypted)], by_file, alice.secret
    )
    text = run_cli(["verify", "--file", str(encrypted)], by_file)
    restore_code, result, restore_err = _cli(
        ["restore", "--file", str(encrypted), "--target-uri", secantus.uri,
         "--ns-include", "shop.users", *_renamed("shop", database)],
        by_value, alice.secret,
    )  # fmt: skip

    assert verify_code == 0, verify_err
    assert report["encrypted"] is True
    assert report["compressed"] is True
    assert report["sha256"] == hashlib.sha256(encrypted.read_bytes()).hexdigest()
    assert report["size"] == encrypted.stat().st_size
    assert {ns: s["documents"] for ns, s in report["namespaces"].items()} == MULTI_DB_COUNTS
    assert text.returncode == 0, text.stderr
    assert "(age, gzip)" in text.stdout
    assert restore_code == 0, restore_err
    assert client[database].list_collection_names() == ["users"]
    assert client[database].users.count_documents({}) == 200
    assert result["namespaces"] == {f"{database}.users": 200}
    assert result["sha256"] == report["sha256"]


# -- through S3 ------------------------------------------------------------------------------


@pytest.mark.e2e
def test_two_recipients_each_identity_alone_verifies_and_restores(
    client: MongoClient[Any], database: str, backup_env: dict[str, str], s3: Any, bucket: str,
    secantus: Secantus, alice: KeyPair, bob: KeyPair,
) -> None:  # fmt: skip
    seed_every_type(client[database])
    recipients = f"{alice.public_key}, {bob.public_key}"

    backup = _backup({**backup_env, "AGE_RECIPIENTS": b64(recipients)}, database)

    manifest = json.loads(s3.get_object(Bucket=bucket, Key=backup["manifest_key"])["Body"].read())
    assert manifest["recipients"] == [alice.public_key, bob.public_key]
    listed = run_cli(["list", "--json"], _reader_env(backup_env, secantus))
    assert json.loads(listed.stdout)["backups"][0]["encrypted"] is True
    reader = _reader_env(backup_env, secantus)
    identities = {
        "alice": {"AGE_IDENTITY_FILE": str(alice.identity_file)},
        "bob": {"AGE_IDENTITY": b64(bob.identity_file.read_text())},
    }
    for who, identity in identities.items():
        secret = (alice if who == "alice" else bob).secret
        env = {**reader, **identity}
        verify_code, report, verify_err = _cli(["verify", backup["key"]], env, secret)
        target = f"{database}_{who}"
        restore_code, result, restore_err = _cli(
            ["restore", backup["key"], *_renamed(database, target)], env, secret
        )

        assert verify_code == 0, verify_err
        assert report["sha256"] == report["manifest_sha256"] == backup["sha256"]
        assert report["encrypted"] is True
        assert report["namespaces"][f"{database}.people"]["documents"] == 300
        assert restore_code == 0, restore_err
        assert result["sha256_verified"] is True
        _same_documents(client, database, target)


@pytest.mark.e2e
def test_a_wrong_or_missing_identity_fails_clearly_and_writes_nothing(
    client: MongoClient[Any], database: str, backup_env: dict[str, str], secantus: Secantus,
    alice: KeyPair, bob: KeyPair,
) -> None:  # fmt: skip
    client[database].things.insert_many({"n": n} for n in range(100))
    backup = _backup({**backup_env, "AGE_RECIPIENTS": alice.public_key}, database)
    reader = _reader_env(backup_env, secantus)
    wrong = {**reader, "AGE_IDENTITY_FILE": str(bob.identity_file)}
    target = f"{database}_r"

    wrong_verify = _cli(["verify", backup["key"]], wrong, bob.secret)
    wrong_restore = _cli(["restore", backup["key"], *_renamed(database, target)], wrong, bob.secret)
    missing_verify = _cli(["verify", backup["key"]], reader)
    missing_restore = _cli(["restore", "--latest", *_renamed(database, target)], reader)

    for code, document, _ in (wrong_verify, wrong_restore):
        assert code == 1
        assert document["error"]["code"] == "VERIFY_ERROR"
        assert document["error"]["details"]["reason"] == "no matching identity"
        assert "AGE_IDENTITY_FILE" in document["error"]["message"]
    for code, document, _ in (missing_verify, missing_restore):
        assert code == 1
        assert document["error"]["code"] == "VERIFY_ERROR"
        assert document["error"]["details"]["reason"] == "no identity configured"
        assert "AGE_IDENTITY_FILE" in document["error"]["message"]
        assert "AGE_IDENTITY (base64)" in document["error"]["message"]
    assert target not in client.list_database_names()


@pytest.mark.e2e
def test_a_changed_byte_in_an_encrypted_backup_fails_verify_and_restore(
    client: MongoClient[Any], database: str, backup_env: dict[str, str], s3: Any, bucket: str,
    secantus: Secantus, alice: KeyPair,
) -> None:  # fmt: skip
    client[database].things.insert_many({"n": n, "text": f"row {n}"} for n in range(3000))
    backup = _backup({**backup_env, "AGE_RECIPIENTS": alice.public_key}, database)
    stored = bytearray(s3.get_object(Bucket=bucket, Key=backup["key"])["Body"].read())
    stored[len(stored) // 2] ^= 0x01
    s3.put_object(Bucket=bucket, Key=backup["key"], Body=bytes(stored))
    env = {**_reader_env(backup_env, secantus), "AGE_IDENTITY_FILE": str(alice.identity_file)}
    target = f"{database}_r"

    verify_code, report, _ = _cli(["verify", backup["key"]], env)
    restore_code, result, _ = _cli(["restore", backup["key"], *_renamed(database, target)], env)

    assert verify_code == 1
    assert report["error"]["code"] == "VERIFY_ERROR"
    assert "sha256 mismatch" in report["error"]["message"]
    assert report["error"]["details"]["archive"]["reason"] == "damaged ciphertext"
    assert restore_code == 1
    assert result["error"]["code"] == "VERIFY_ERROR"
    # age releases no chunk that fails its MAC: the restore stopped before the archive's end.
    assert client[target].things.count_documents({}) < 3000


# -- S3 server-side encryption ---------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize("algorithm", ["AES256", "aws:kms"])
def test_server_side_encryption_reaches_s3_on_every_upload(
    client: MongoClient[Any], database: str, backup_env: dict[str, str], s3: Any, bucket: str,
    moto_endpoint: str, alice: KeyPair, algorithm: str,
) -> None:  # fmt: skip
    client[database].things.insert_many({"n": n} for n in range(50))
    env = {**backup_env, "S3_SSE": algorithm, "AGE_RECIPIENTS": alice.public_key}
    kms_key_id = None
    if algorithm == "aws:kms":
        kms = boto3.client(
            "kms", endpoint_url=moto_endpoint, region_name=REGION,
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip
        kms_key_id = kms.create_key(Description="backups")["KeyMetadata"]["KeyId"]
        env["S3_KMS_KEY_ID"] = kms_key_id

    backup = _backup(env, database)

    # The archive is a multipart upload (CreateMultipartUpload), the manifest a PutObject.
    for key in (backup["key"], backup["manifest_key"]):
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["ServerSideEncryption"] == algorithm, key
        if kms_key_id is not None:
            assert kms_key_id in head["SSEKMSKeyId"], key
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=backup["manifest_key"])["Body"].read())
    assert manifest["server_side_encryption"] == {"algorithm": algorithm, "kms_key_id": kms_key_id}
    assert manifest["encrypted"] is True


# -- configuration ---------------------------------------------------------------------------


def _config_problems(env: dict[str, str]) -> str:
    with pytest.raises(ConfigInvalidError) as caught:
        load_config(env, secrets=Base64EnvSecrets(env), require_mongo=False)
    return "; ".join(caught.value.problems)


def test_bad_encryption_settings_are_config_errors_that_name_the_variable(
    alice: KeyPair, tmp_path: Path
) -> None:
    flipped = alice.public_key[:-1] + ("q" if alice.public_key[-1] != "q" else "p")

    assert "AGE_RECIPIENTS" in _config_problems({"AGE_RECIPIENTS": "age1short"})
    assert "AGE_RECIPIENTS" in _config_problems({"AGE_RECIPIENTS": b64("not-a-key")})
    leaked = _config_problems({"AGE_RECIPIENTS": alice.secret})
    assert "secret key" in leaked
    assert alice.secret not in leaked
    with pytest.raises(ConfigInvalidError, match=r"AGE_RECIPIENTS key #2 .*checksum"):
        AgeCipher(recipients=[alice.public_key, flipped])
    assert "AGE_IDENTITY_FILE: cannot read" in _config_problems(
        {"AGE_IDENTITY_FILE": str(tmp_path / "missing.txt")}
    )
    public_only = tmp_path / "public.txt"
    public_only.write_text(alice.public_key + "\n")
    assert "AGE_IDENTITY_FILE must hold age identities" in _config_problems(
        {"AGE_IDENTITY_FILE": str(public_only)}
    )
    assert "not both" in _config_problems(
        {"AGE_IDENTITY_FILE": str(alice.identity_file), "AGE_IDENTITY": b64(alice.secret)}
    )
    assert "S3_SSE must be AES256" in _config_problems({"S3_SSE": "aes128"})
    assert "S3_KMS_KEY_ID is used only with S3_SSE=aws:kms" in _config_problems(
        {"S3_SSE": "AES256", "S3_KMS_KEY_ID": "alias/backups"}
    )


def test_good_encryption_settings_load_and_the_identity_is_a_secret(
    alice: KeyPair, bob: KeyPair
) -> None:
    env = {
        "AGE_RECIPIENTS": f"{alice.public_key},{bob.public_key}",
        "AGE_IDENTITY": b64(alice.identity_file.read_text()),
        "S3_SSE": "aws:kms",
        "S3_KMS_KEY_ID": "alias/backups",
    }

    config = load_config(env, secrets=Base64EnvSecrets(env), require_mongo=False)

    assert config.age_recipients == (alice.public_key, bob.public_key)
    assert config.age_identities == (alice.secret,)
    assert alice.secret in config.secret_values()
    assert alice.secret not in repr(config)
    assert (config.s3_sse, config.s3_kms_key_id) == ("aws:kms", "alias/backups")


def test_the_manifest_keeps_recipients_and_server_side_encryption(alice: KeyPair) -> None:
    at = datetime(2025, 4, 7, 10, 15, 30, tzinfo=UTC)
    manifest = Manifest(
        name="mongodb", key="backups/x.archive.gz.age", size=1, sha256="00", compressed=True,
        encrypted=True, started_at=at, finished_at=at, mongodump_version="v", tool_version="t",
        source=SourceInfo(hosts=("db",)), recipients=(alice.public_key,),
        server_side_encryption=ServerSideEncryption(algorithm="aws:kms", kms_key_id="alias/b"),
    )  # fmt: skip
    old = json.loads(encode_manifest(attrs.evolve(manifest, recipients=())))
    del old["recipients"], old["server_side_encryption"]

    assert decode_manifest(encode_manifest(manifest)) == manifest
    # A manifest written before encryption existed still reads, as unencrypted.
    assert decode_manifest(json.dumps(old).encode()).recipients == ()


@pytest.mark.e2e
def test_a_bad_recipient_stops_the_cli_with_exit_2_before_any_upload(
    backup_env: dict[str, str], s3: Any, bucket: str, alice: KeyPair
) -> None:
    # One fails the pattern check in the configuration, the other only age's checksum.
    flipped = alice.public_key[:-1] + ("q" if alice.public_key[-1] != "q" else "p")

    for recipients in ("age1nope", f"{alice.public_key},{flipped}"):
        completed = run_cli(["run", "--json"], {**backup_env, "AGE_RECIPIENTS": recipients})

        assert completed.returncode == 2, completed.stdout + completed.stderr
        error = json.loads(completed.stdout)["error"]
        assert error["code"] == "CONFIG_ERROR"
        assert "AGE_RECIPIENTS" in error["message"]
        assert "Traceback" not in completed.stderr
    assert s3.list_objects_v2(Bucket=bucket).get("Contents", []) == []


# -- the streaming cipher on its own -------------------------------------------------------


def _settings() -> BackupSettings:
    return BackupSettings(prefix="backups/", source=SourceInfo(hosts=("db",)), tool_version="t")


def test_run_backup_stores_ciphertext_that_hashes_as_the_manifest_says(alice: KeyPair) -> None:
    store = InMemoryObjectStore()
    data = fake_archive({"db.coll": 10_000}, padding=400)
    cipher = AgeCipher(recipients=[alice.public_key], identities=[alice.secret])
    use_case = RunBackup(
        compressor=FastCompressor(),
        dumps=FakeDumpRunner(data=data), store=store, clock=FakeClock(), settings=_settings(),
        cipher=cipher,
    )  # fmt: skip

    result = use_case.run(request=BackupRequest(name="mongodb"))

    stored = store.objects[result.manifest.key]
    assert result.manifest.key.endswith(".archive.gz.age")
    assert (result.manifest.encrypted, result.manifest.recipients) == (True, (alice.public_key,))
    assert result.manifest.sha256 == hashlib.sha256(stored).hexdigest()
    assert result.manifest.size == len(stored)
    with cipher.decrypting(io.BytesIO(stored), label="k") as plaintext:
        assert gzip.decompress(b"".join(iter(lambda: plaintext.read(1 << 20), b""))) == data


def test_a_dump_failing_under_encryption_fails_the_backup_with_its_own_error(
    alice: KeyPair,
) -> None:
    store = InMemoryObjectStore()
    dumps = FakeDumpRunner(data=fake_archive({"db.coll": 6000}, padding=400), fail_after=2_000_000)
    use_case = RunBackup(
        compressor=FastCompressor(),
        dumps=dumps, store=store, clock=FakeClock(), settings=_settings(),
        cipher=AgeCipher(recipients=[alice.public_key]),
    )  # fmt: skip

    with pytest.raises(DumpFailedError, match="fake dump failed mid-stream"):
        use_case.run(request=BackupRequest(name="mongodb"))

    assert store.objects == {}
    assert dumps.closed == 1
    assert not [t for t in threading.enumerate() if t.name.startswith("age-")]


_LONG_ARCHIVE = fake_archive({"db.coll": 2000}, padding=100)


class _StallingDump:
    """Hands out some bytes, then hangs as a stalled mongodump would, until stopped."""

    def __init__(self) -> None:
        self.stopped = threading.Event()
        self.sent = 0

    def read(self, size: int, /) -> bytes:
        if self.sent < 100_000:
            # A real archive's start, so that only the stall can stop the backup.
            chunk = _LONG_ARCHIVE[self.sent : self.sent + size]
            self.sent += size
            return chunk
        self.stopped.wait(60)
        raise DumpFailedError("stopped")

    def namespaces(self) -> dict[str, int]:
        return {}

    def stop(self) -> None:
        self.stopped.set()


@attrs.define
class _StallingDumps:
    dump: _StallingDump = attrs.Factory(_StallingDump)

    def describe_tool(self) -> str:
        return "stalling"

    def open_dump(self, *, stop: Any = None) -> contextlib.AbstractContextManager[_StallingDump]:
        return contextlib.nullcontext(self.dump)


def test_the_deadline_stops_a_stalled_dump_behind_the_cipher(alice: KeyPair) -> None:
    store = InMemoryObjectStore()
    dumps = _StallingDumps()
    use_case = RunBackup(
        compressor=FastCompressor(),
        dumps=dumps, store=store, clock=SystemClock(), settings=_settings(),
        cipher=AgeCipher(recipients=[alice.public_key]),
    )  # fmt: skip
    started = time.monotonic()
    deadline = datetime.now(UTC) + timedelta(seconds=0.5)

    with pytest.raises(DeadlineExceededError):
        use_case.run(request=BackupRequest(name="mongodb", deadline=deadline))

    assert time.monotonic() - started < 10
    assert dumps.dump.stopped.is_set()
    assert store.objects == {}
    assert not [t for t in threading.enumerate() if t.name.startswith("age-")]


def test_leaving_early_stops_the_cipher_thread(alice: KeyPair) -> None:
    cipher = AgeCipher(recipients=[alice.public_key], identities=[alice.secret])

    class Endless:
        def read(self, size: int, /) -> bytes:
            return b"z" * size

    with cipher.encrypting(Endless()) as ciphertext:
        head = ciphertext.read(len(AGE_MAGIC))
    plaintext = io.BytesIO(b"archive bytes" * 100_000)
    with cipher.encrypting(plaintext) as ciphertext:
        encrypted = b"".join(iter(lambda: ciphertext.read(1 << 20), b""))
    with cipher.decrypting(io.BytesIO(encrypted), label="x") as decrypted:
        first = decrypted.read(13)

    assert head == AGE_MAGIC
    assert first == b"archive bytes"
    assert not [t for t in threading.enumerate() if t.name.startswith("age-")]
