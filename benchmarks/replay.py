#!/usr/bin/env python3
"""A stand-in for mongodump, for the benchmark only (set through MONGODUMP_PATH).

It accepts and ignores mongodump's arguments (--config=..., --archive, --db=..., ...), answers
`--version`, and streams a cached archive to stdout with sendfile(2), so the source costs almost
no CPU and is never the bottleneck. With --gzip it streams the pre-gzipped copy of the same
archive (made once by the generator) instead of compressing on the fly, which would make the
source, not the tool under test, the limit. At the end it prints mongodump's "done dumping"
lines on stderr, so BackupNimbus records the namespaces as it does with the real tool.

Environment: BENCH_REPLAY_ARCHIVE, the uncompressed archive; its gzip form is the same path plus
".gz", and its namespace counts are in the same path plus ".json". BENCH_REPLAY_REFUSE_GZIP, if
set, makes --gzip an error: the compressed-backup scenario measures the compressing done by the
caller, so a caller that asks mongodump to compress must fail it. BENCH_REPLAY_PIPE_MIB, if
set, enlarges the stdout pipe (F_SETPIPE_SZ): either end of a pipe may do so, so this measures
what the reading side (the mongodump adapter) would gain by doing it. Standard library only: it
is started as `python -I -S` for a fast start.
"""

from __future__ import annotations

import json
import os
import sys

_CHUNK = 8 * 1024 * 1024
_F_SETPIPE_SZ = 1031


def main(argv: list[str]) -> int:
    if "--version" in argv:
        print("mongodump version: bench-replay")
        print("git version: none")
        return 0
    archive = os.environ.get("BENCH_REPLAY_ARCHIVE")
    if not archive:
        print("replay: BENCH_REPLAY_ARCHIVE is not set", file=sys.stderr)
        return 2
    if "--gzip" in argv and os.environ.get("BENCH_REPLAY_REFUSE_GZIP"):
        print("replay: --gzip refused (BENCH_REPLAY_REFUSE_GZIP): the caller must compress",
              file=sys.stderr)  # fmt: skip
        return 2
    path = archive + ".gz" if "--gzip" in argv else archive
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        print(f"replay: cannot open {path}: {exc.strerror}", file=sys.stderr)
        return 1
    pipe_mib = os.environ.get("BENCH_REPLAY_PIPE_MIB")
    if pipe_mib:
        _enlarge_pipe(sys.stdout.fileno(), int(pipe_mib) * 1024 * 1024)
    try:
        _stream(fd, sys.stdout.fileno())
    except BrokenPipeError:
        return 1
    finally:
        os.close(fd)
    _report_namespaces(archive + ".json")
    return 0


def _stream(fd: int, out: int) -> None:
    size = os.fstat(fd).st_size
    offset = 0
    try:
        while offset < size:
            sent = os.sendfile(out, fd, offset, min(_CHUNK, size - offset))
            if sent == 0:
                return
            offset += sent
    except OSError as exc:
        if isinstance(exc, BrokenPipeError) or offset:
            raise
        # Some outputs refuse sendfile (e.g. a terminal); plain reads still work there.
        while chunk := os.read(fd, _CHUNK):
            view = memoryview(chunk)
            while view:
                view = view[os.write(out, view) :]


def _enlarge_pipe(fd: int, size: int) -> None:
    import fcntl

    try:
        fcntl.fcntl(fd, _F_SETPIPE_SZ, size)
    except OSError as exc:  # not a pipe, or over /proc/sys/fs/pipe-max-size
        print(f"replay: pipe size unchanged: {exc.strerror}", file=sys.stderr)


def _report_namespaces(sidecar: str) -> None:
    try:
        with open(sidecar, encoding="utf-8") as handle:
            namespaces = json.load(handle)["ns"]
    except (OSError, ValueError, KeyError):
        return
    for namespace, count in namespaces.items():
        print(f"done dumping {namespace} ({count} documents)", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
