"""`make run`: a real backup when one is configured, otherwise the embedded demo.

The demo starts a local SecantusDB on a free port, loads sample data of several BSON types,
backs it up into the local store (LOCAL_BACKUP_DIR, default ./backups), checks the stored
archive against its manifest, and stops the server.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from backupnimbus.entrypoints import cli


def main() -> int:
    from backupnimbus.entrypoints.container import read_environment

    if read_environment().get("MONGO_URI"):
        return cli.main(["run"])
    return _demo()


def _demo() -> int:
    import json

    from backupnimbus.domain.models import BackupRequest
    from backupnimbus.domain.run_backup import RunBackup
    from backupnimbus.domain.verify_backup import VerifyBackup, VerifyFromKey
    from backupnimbus.entrypoints.container import (
        bootstrap,
        config_from_environment,
        read_environment,
    )
    from backupnimbus.entrypoints.logging import configure_logging
    from backupnimbus.errors import BackupNimbusError
    from backupnimbus.redaction import Redactor

    print("No MONGO_URI configured: running the demo against a local SecantusDB.")
    environ = read_environment()
    # The demo is self-contained: the local store, no mail, no encryption to keys it can't use.
    for name in ("AWS_S3_BUCKET_NAME", "AGE_RECIPIENTS", "NOTIFICATIONS_ENABLED"):
        environ.pop(name, None)
    environ["STORAGE_BACKEND"] = "local"  # chosen, as any configuration must choose its store
    with _secantus() as uri:
        _load_sample(uri)
        environ["MONGO_URI"] = _b64(uri)
        redactor = Redactor()  # URI passwords, until the configuration names its secrets
        try:
            config = config_from_environment(environ)
            redactor = Redactor(config.secret_values())
            configure_logging(
                level=config.log_level, redactor=redactor, log_format=config.log_format
            )
            app = bootstrap(config, redactor=redactor)
            try:
                result = app.resolve(RunBackup).run(
                    request=BackupRequest(name="demo", compression=config.backup_compression)
                )
                report = app.resolve(VerifyBackup).run(
                    request=VerifyFromKey(key=result.manifest.key)
                )
            finally:
                app.close()
        except BackupNimbusError as error:
            print(json.dumps(redactor.redact_document(error.to_document())), file=sys.stderr)
            return error.exit_code
    root = Path(config.local_backup_dir)
    print(f"Archive:  {(root / result.manifest.key).resolve()}")
    print(f"Manifest: {(root / result.manifest_key).resolve()}")
    walked = report.checked.archive
    assert walked is not None, "the demo backs up MongoDB"
    counts = ", ".join(f"{stats.namespace}: {stats.documents}" for stats in walked.namespaces)
    print(
        f"Verified: {report.checked.size} bytes match the manifest's sha256 "
        f"{report.checked.sha256[:16]}…; every collection's CRC-64 checked; documents {counts}"
    )
    return 0


@contextmanager
def _secantus() -> Iterator[str]:
    server = shutil.which("secantusd-py") or str(Path(sys.executable).with_name("secantusd-py"))
    if not Path(server).exists():
        raise SystemExit("The demo needs SecantusDB: pip install 'backupnimbus[demo]'")
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="backupnimbus-demo-") as storage:
        process = subprocess.Popen(
            [server, "--host", "127.0.0.1", "--port", str(port), "--storage-path", storage],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for_port(port, process)
            yield f"mongodb://127.0.0.1:{port}/"
        finally:
            process.terminate()
            process.wait(timeout=30)


def _load_sample(uri: str) -> None:
    import datetime as dt
    import uuid

    from bson import Binary, Decimal128, Int64, ObjectId, Regex, Timestamp
    from pymongo import MongoClient

    with MongoClient[dict[str, Any]](uri, uuidRepresentation="standard") as client:
        shop = client["shop"]
        shop.users.insert_many(
            {
                "_id": ObjectId(),
                "name": f"user {n}",
                "joined": dt.datetime(2020, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=n),
                "balance": Decimal128(f"{n}.25"),
                "visits": Int64(n * 1000),
                "tags": ["new"] if n % 2 else ["loyal", "vip"],
                "avatar": Binary(bytes(range(n % 16)), 0),
                "uuid": uuid.UUID(int=n),
            }
            for n in range(200)
        )
        shop.users.create_index("name", unique=True)
        shop.orders.insert_many(
            {"n": n, "user": n % 200, "total": n * 1.5, "at": Timestamp(1_700_000_000 + n, 1)}
            for n in range(1000)
        )
        client["analytics"].events.insert_one({"pattern": Regex("^a.*z$", "i"), "empty": {}})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"SecantusDB exited with code {process.returncode} while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"SecantusDB did not listen on port {port} within {timeout:.0f} s")


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


if __name__ == "__main__":
    raise SystemExit(main())
