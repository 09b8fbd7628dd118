"""Memory stays bounded however much streams through, measured in a child process: a large
backup through the real S3 adapter to the moto server, with the default part size and parts in
flight; and 1 GiB compressed or encrypted into a discarding store, which isolates the pipeline
(archive walk, compression, age) from the upload.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from typing import Any

import pyrage
import pytest

from tests.support.cli import REGION, b64

# The README's budget for the whole process, at any size and compression setting.
BUDGET_MIB = 120

CHILD = textwrap.dedent("""
    import contextlib, json, os, sys
    from backupnimbus.adapters.memory import FakeClock
    from backupnimbus.domain.backup_job import BackupJob
    from backupnimbus.domain.models import BackupRequest
    from backupnimbus.entrypoints.config import Config
    from backupnimbus.entrypoints.container import bootstrap

    def peak_rss_kib():
        # VmHWM, not getrusage: ru_maxrss carries the parent's peak across fork and exec, so a
        # big test runner would be measured instead of this process.
        with open("/proc/self/status") as status:
            return next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))

    from fastcrc import crc64
    from backupnimbus.adapters.fake_archive import (
        TERMINATOR, archive_head, end_block, flat_bson, segment_head)

    algorithm, recipient, target, TOTAL = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    # One 1 MiB segment of 16 documents of incompressible bytes, repeated: a valid archive
    # (every CRC right) of 1 GiB, produced on demand, never held.
    PAYLOAD = os.urandom(1 << 16).hex()[: (1 << 16) - 64]
    DOCS = b"".join(flat_bson({"_id": n, "blob": PAYLOAD}) for n in range(16))
    SEGMENT = segment_head("db.big") + DOCS + TERMINATOR

    class EndlessDump:
        def __init__(self):
            self.pending = bytearray(archive_head(["db.big"]))
            self.segments = TOTAL // len(SEGMENT) + 1
            self.crc = 0
        def read(self, size):
            while len(self.pending) < size and self.segments >= 0:
                if self.segments:
                    self.pending += SEGMENT
                    self.crc = crc64.xz(DOCS, initial=self.crc)
                else:
                    self.pending += end_block("db.big", self.crc)
                self.segments -= 1
            chunk = bytes(self.pending[:size]); del self.pending[:size]
            return chunk
        def namespaces(self): return {"db.big": 16 * (TOTAL // len(SEGMENT) + 1)}
        def warnings(self): return ()
        def stop(self): self.segments = -1; self.pending.clear()

    class Dumps:
        def describe_tool(self): return "endless 1.0"
        @contextlib.contextmanager
        def open_dump(self, *, stop=None): yield EndlessDump()

    class DiscardingStore:
        # Pulls in 8 MiB parts, as the S3 store does, and keeps only the count.
        stored = 0
        def list_objects(self, *, prefix): return []
        def put_stream(self, *, key, stream):
            while chunk := stream.read(8 << 20): self.stored += len(chunk)
        def put_bytes(self, *, key, data): pass

    from backupnimbus.ports.compressor import DEFAULT_LEVELS, Compression
    from backupnimbus.ports.object_store import ObjectStore
    recipients = (recipient,) if recipient else ()
    if target == "s3":
        # The store the configuration builds, as a run builds it: nothing tuned for the test.
        from backupnimbus.entrypoints.container import config_from_environment
        app = bootstrap(config_from_environment(dict(os.environ)), dump_runner=Dumps(),
                        clock=FakeClock())
        store = app.container.resolve(ObjectStore)
        in_flight = store._concurrency
    else:
        store = DiscardingStore()
        config = Config(mongo_uri="mongodb://db/", age_recipients=recipients)
        app = bootstrap(config, dump_runner=Dumps(), store=store, clock=FakeClock())
        in_flight = None
    job = app.resolve(BackupJob)
    compression = Compression(algorithm, DEFAULT_LEVELS[algorithm])
    result = job.run(request=BackupRequest(name="big", compression=compression))
    manifest = result.backup.manifest
    print(json.dumps({"stored": getattr(store, "stored", manifest.size), "key": manifest.key,
                      "size": manifest.size, "in_flight": in_flight,
                      "peak_rss_kib": peak_rss_kib()}))
""")


def _measure(
    algorithm: str, encrypted: bool, target: str, total: int, env: dict[str, str] | None = None
) -> dict[str, Any]:
    recipient = str(pyrage.x25519.Identity.generate().to_public()) if encrypted else ""
    child_env = {**os.environ, **(env or {})}
    completed = subprocess.run(
        [sys.executable, "-c", CHILD, algorithm, recipient, target, str(total)],
        capture_output=True, text=True, timeout=900, env=child_env,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    report: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return report


@pytest.mark.parametrize("algorithm", ["none", "gzip"])
def test_a_large_backup_through_the_s3_adapter_stays_within_the_memory_budget(
    algorithm: str, s3: Any, bucket: str, moto_endpoint: str
) -> None:
    """The real upload path: the S3 adapter the configuration builds (default part size, default
    parts in flight), threads, boto3 and all, streaming 512 MiB to the moto server. gzip only
    halves the hex payload (zstd's window would find the repeated segment whole), so it uploads
    some 50 parts with its compression threads beside them. The peak does not grow with the
    size: 512 MiB and 768 MiB peaked alike."""
    total = 512 << 20
    env = {
        "MONGO_URI": b64("mongodb://db.example:27017/"),
        "AWS_S3_BUCKET_NAME": b64(bucket),
        "AWS_ACCESS_KEY_ID": b64("testing"),
        "AWS_SECRET_ACCESS_KEY": b64("testing"),
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL_S3": moto_endpoint,
    }
    started = time.monotonic()

    report = _measure(algorithm, False, "s3", total, env)

    took = time.monotonic() - started
    try:
        head = s3.head_object(Bucket=bucket, Key=report["key"])
        # A multipart object's ETag ends in "-<parts>": the default 6 MiB parts.
        parts = int(head["ETag"].strip('"').rpartition("-")[2])
    finally:
        # moto keeps every object in this process's memory.
        s3.delete_object(Bucket=bucket, Key=report["key"])
    assert report["in_flight"] == 3, "the default parts in flight, as the README says"
    assert head["ContentLength"] == report["size"] > (total if algorithm == "none" else total // 3)
    assert report["key"].endswith(".archive" if algorithm == "none" else ".archive.gz")
    assert parts == -(-report["size"] // (6 << 20))
    assert report["peak_rss_kib"] / 1024 < BUDGET_MIB, (report, f"{took:.0f} s")


@pytest.mark.parametrize(
    ("algorithm", "encrypted", "suffix"),
    [("none", True, ".archive.age"), ("gzip", False, ".archive.gz"),
     ("zstd", True, ".archive.zst.age")],
)  # fmt: skip
def test_one_gib_through_the_pipeline_stays_within_the_memory_budget(
    algorithm: str, encrypted: bool, suffix: str
) -> None:
    report = _measure(algorithm, encrypted, "discard", 1 << 30)

    assert report["key"].endswith(suffix)
    if algorithm == "none":
        assert report["stored"] > 1 << 30  # all of it went through, plus age's overhead
    else:
        # The segment repeats: zstd's window finds it whole, gzip's 32 KiB one does not.
        assert 0 < report["stored"] < (1 << 30)
    assert report["peak_rss_kib"] / 1024 < BUDGET_MIB, report
