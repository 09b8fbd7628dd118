"""What a pipe-to-file copy costs in Python, one step at a time, for the local-store breakdown.

Reads stdin to its end in 1 MiB reads, as the local store does, and optionally hashes with
SHA-256 (the manifest's digest), writes to a file, fsyncs it, enlarges the pipe, or hashes and
writes on two threads. Standard library only; the breakdown runs it as `python -I -S`.

    replay --archive | python sink.py [--sha256] [--write PATH] [--fsync] [--pipe-mib N]
                                      [--threads]
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import queue
import sys
import threading
from typing import IO

_CHUNK = 1024 * 1024
_F_SETPIPE_SZ = 1031


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sink")
    parser.add_argument("--sha256", action="store_true")
    parser.add_argument("--write")
    parser.add_argument("--fsync", action="store_true")
    parser.add_argument("--pipe-mib", type=int, default=0)
    parser.add_argument("--threads", action="store_true")
    args = parser.parse_args(argv)
    source = sys.stdin.buffer
    if args.pipe_mib:
        fcntl.fcntl(source.fileno(), _F_SETPIPE_SZ, args.pipe_mib * 1024 * 1024)
    digest = hashlib.sha256() if args.sha256 else None
    out = open(args.write, "wb") if args.write else None  # noqa: SIM115 - closed below
    try:
        if args.threads:
            _threaded(source, digest, out)
        else:
            while chunk := source.read(_CHUNK):
                if digest is not None:
                    digest.update(chunk)
                if out is not None:
                    out.write(chunk)
        if out is not None:
            out.flush()
            if args.fsync:
                os.fsync(out.fileno())
    finally:
        if out is not None:
            out.close()
    return 0


def _threaded(source: IO[bytes], digest: object, out: IO[bytes] | None) -> None:
    """Hashing on this thread while another writes: both release the GIL on large buffers."""
    pending: queue.Queue[bytes | None] = queue.Queue(maxsize=4)

    def write() -> None:
        while (chunk := pending.get()) is not None:
            if out is not None:
                out.write(chunk)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while chunk := source.read(_CHUNK):
            if digest is not None:
                digest.update(chunk)  # type: ignore[attr-defined]
            pending.put(chunk)
    finally:
        pending.put(None)
        writer.join()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
