"""Memory stays bounded however much streams through: 1 GiB encrypted in a child process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pyrage

# The README's budget: a few parts of 8 MiB plus the interpreter and its libraries.
BUDGET_MIB = 100

CHILD = textwrap.dedent("""
    import contextlib, json, os, sys
    from backupnimbus.adapters.memory import FakeClock
    from backupnimbus.domain.backup_job import BackupJob
    from backupnimbus.domain.models import BackupRequest
    from backupnimbus.entrypoints.config import Config
    from backupnimbus.entrypoints.container import build_container

    def peak_rss_kib():
        # VmHWM, not getrusage: ru_maxrss carries the parent's peak across fork and exec, so a
        # big test runner would be measured instead of this process.
        with open("/proc/self/status") as status:
            return next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))

    TOTAL = 1 << 30
    BLOCK = os.urandom(1 << 20)

    class EndlessDump:
        # 1 GiB of incompressible bytes, produced on demand, never held.
        def __init__(self): self.left = TOTAL
        def read(self, size):
            size = min(size, self.left); self.left -= size
            return (BLOCK * (size // len(BLOCK) + 1))[:size]
        def namespaces(self): return {"db.big": 1}
        def stop(self): self.left = 0

    class Dumps:
        def describe_tool(self): return "endless 1.0"
        @contextlib.contextmanager
        def open_dump(self, *, compress, stop=None): yield EndlessDump()

    class DiscardingStore:
        # Pulls in 8 MiB parts, as the S3 store does, and keeps only the count.
        stored = 0
        def exists(self, *, key): return False
        def put_stream(self, *, key, stream):
            while chunk := stream.read(8 << 20): self.stored += len(chunk)
        def put_bytes(self, *, key, data): pass

    store = DiscardingStore()
    config = Config(mongo_uri="mongodb://db/", age_recipients=(sys.argv[1],))
    job = build_container(config, dump_runner=Dumps(), object_store=store,
                          clock=FakeClock()).resolve(BackupJob)
    result = job.run(request=BackupRequest(name="big", compress=False))
    print(json.dumps({"stored": store.stored, "key": result.backup.manifest.key,
                      "peak_rss_kib": peak_rss_kib()}))
""")


def test_encrypting_one_gib_stays_within_the_memory_budget() -> None:
    recipient = str(pyrage.x25519.Identity.generate().to_public())

    completed = subprocess.run(
        [sys.executable, "-c", CHILD, recipient], capture_output=True, text=True, timeout=600
    )

    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["key"].endswith(".archive.age")
    assert report["stored"] > 1 << 30  # all of it went through, plus age's overhead
    assert report["peak_rss_kib"] / 1024 < BUDGET_MIB, report
