"""Memory stays bounded however much streams through: 1 GiB compressed or encrypted in a child
process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pyrage
import pytest

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

    TOTAL = 1 << 30
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

    store = DiscardingStore()
    from backupnimbus.ports.compressor import DEFAULT_LEVELS, Compression
    algorithm, recipient = sys.argv[1], sys.argv[2]
    config = Config(mongo_uri="mongodb://db/", age_recipients=(recipient,) if recipient else ())
    job = bootstrap(config, dump_runner=Dumps(), store=store,
                    clock=FakeClock()).resolve(BackupJob)
    compression = Compression(algorithm, DEFAULT_LEVELS[algorithm])
    result = job.run(request=BackupRequest(name="big", compression=compression))
    print(json.dumps({"stored": store.stored, "key": result.backup.manifest.key,
                      "peak_rss_kib": peak_rss_kib()}))
""")


@pytest.mark.parametrize(
    ("algorithm", "encrypted", "suffix"),
    [("none", True, ".archive.age"), ("gzip", False, ".archive.gz"),
     ("zstd", True, ".archive.zst.age")],
)  # fmt: skip
def test_one_gib_stays_within_the_memory_budget(
    algorithm: str, encrypted: bool, suffix: str
) -> None:
    recipient = str(pyrage.x25519.Identity.generate().to_public()) if encrypted else ""

    completed = subprocess.run(
        [sys.executable, "-c", CHILD, algorithm, recipient],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip

    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["key"].endswith(suffix)
    if algorithm == "none":
        assert report["stored"] > 1 << 30  # all of it went through, plus age's overhead
    else:
        # The segment repeats: zstd's window finds it whole, gzip's 32 KiB one does not.
        assert 0 < report["stored"] < (1 << 30)
    assert report["peak_rss_kib"] / 1024 < BUDGET_MIB, report
