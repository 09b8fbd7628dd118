"""Which compression level: ISA-L gzip and zstd at a few levels against mongodump's gzip.

    python -m benchmarks.levels [--size 256M] [--repeat 3] [--threads 2] [--out FILE]

A quick standalone measurement on the realistic archive (benchmarks/realistic.py), no S3 and no
BackupNimbus: each compressor reads the uncompressed archive on stdin and writes a file, in its
own process, measured like every scenario (wall, CPU of the tree, peak RSS). The baseline is
benchmarks/gogzip (Go's compress/gzip at its default level, what `mongodump --gzip` runs).
Each output is then decompressed once by its own library and by `gunzip` where it is gzip, for
the restore side. Runs are interleaved, so the machine's load drifts over every setting alike.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import archive_gen, gobaseline
from benchmarks.measure import Sample, measure, shell

MB = 1_000_000

# Unbuffered binary stdin/stdout: the FileIO objects, whichever way Python set its streams up.
_IO = """
import sys
stdin = getattr(sys.stdin.buffer, "raw", sys.stdin.buffer)
stdout = getattr(sys.stdout.buffer, "raw", sys.stdout.buffer)
"""
_ISAL = (
    _IO
    + """
from isal import igzip_threaded
level, threads = int(sys.argv[1]), int(sys.argv[2])
with igzip_threaded.open(stdout, "wb", compresslevel=level, threads=threads) as out:
    while chunk := stdin.read(1 << 20):
        out.write(chunk)
"""
)
_ZSTD = (
    _IO
    + """
import zstandard
level, threads = int(sys.argv[1]), int(sys.argv[2])
compressor = zstandard.ZstdCompressor(level=level, threads=threads)
compressor.copy_stream(stdin, stdout, read_size=1 << 20, write_size=1 << 20)
"""
)
_ISAL_DECOMPRESS = (
    _IO
    + """
from isal import igzip_threaded
with igzip_threaded.open(stdin, "rb", threads=1) as source:
    while chunk := source.read(1 << 20):
        stdout.write(chunk)
"""
)
_ZSTD_DECOMPRESS = (
    _IO
    + """
import zstandard
zstandard.ZstdDecompressor().copy_stream(stdin, stdout, read_size=1 << 20, write_size=1 << 20)
"""
)


@dataclass
class Setting:
    label: str
    compress: list[str]
    decompress: list[str]
    samples: list[Sample] = field(default_factory=list)
    stored: int = 0
    decompress_s: float = 0.0


def settings(python: str, gogzip: Path, threads: int) -> list[Setting]:
    rows = [Setting("Go compress/gzip, default level (baseline)", [str(gogzip)], ["gunzip", "-c"])]
    for level in (1, 2, 3):
        rows.append(
            Setting(
                f"isal igzip_threaded level {level}, threads={threads}",
                [python, "-c", _ISAL, str(level), str(threads)],
                [python, "-c", _ISAL_DECOMPRESS],
            )
        )
    for level in (1, 3):
        rows.append(
            Setting(
                f"zstandard level {level}, threads={threads}",
                [python, "-c", _ZSTD, str(level), str(threads)],
                [python, "-c", _ZSTD_DECOMPRESS],
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.levels", description=__doc__)
    parser.add_argument("--size", default="256M", help="uncompressed archive size")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache", help="archive cache (default ~/.cache/backupnimbus/bench)")
    parser.add_argument("--out", help="also write the table to this file")
    args = parser.parse_args(argv)
    from benchmarks.run import parse_size

    cache = Path(args.cache) if args.cache else archive_gen.default_cache()
    archive = archive_gen.ensure_archive(parse_size(args.size), cache=cache, kind="realistic")
    gogzip = gobaseline.ensure_gogzip(cache)
    rows = settings(sys.executable, gogzip, args.threads)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    with tempfile.TemporaryDirectory(prefix="levels-", dir=cache) as work:
        measure(["cat", str(archive.path)], env=env)  # into the page cache for every row alike
        for i in range(args.repeat):
            for row in rows if i % 2 == 0 else list(reversed(rows)):
                target = Path(work) / "out"
                command = f"{shlex.join(row.compress)} < {shlex.quote(str(archive.path))}"
                sample, _ = measure(shell(f"{command} > {shlex.quote(str(target))}"), env=env)
                row.samples.append(sample)
                row.stored = target.stat().st_size
                if i == 0:
                    back = f"{shlex.join(row.decompress)} < {shlex.quote(str(target))} | cmp - "
                    restored, _ = measure(shell(back + shlex.quote(str(archive.path))), env=env)
                    row.decompress_s = restored.wall_s
                target.unlink()
                print(f"  {row.label} #{i + 1}: {sample.wall_s:.2f} s", file=sys.stderr)
    table = render(archive, rows, args.threads)
    print(table)
    if args.out:
        Path(args.out).write_text(table)
    return 0


def render(archive: archive_gen.GeneratedArchive, rows: list[Setting], threads: int) -> str:
    base = rows[0]
    base_wall = statistics.median(s.wall_s for s in base.samples)
    lines = [
        f"Realistic archive {archive.size:,} bytes ({archive.path.name}); {os.cpu_count()} cores "
        f"shared with other work; medians of {len(base.samples)} interleaved runs.",
        "MB/s = uncompressed MB (10^6 bytes) per wall second of the whole process; ratio = "
        "uncompressed/stored; restore = decompress and compare with the original (gunzip for "
        "the baseline).",
        "",
        "| setting | MB/s (min-max) | x baseline | ratio | stored vs baseline | CPU s/GB "
        "| peak RSS MB | restore MB/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        walls = [s.wall_s for s in row.samples]
        wall = statistics.median(walls)
        speed = archive.size / MB / wall
        cpu = statistics.median(s.cpu_s for s in row.samples) / (archive.size / 1e9)
        rss = statistics.median(s.peak_rss_kb for s in row.samples) * 1024 / MB
        lines.append(
            f"| {row.label} | {speed:.0f} ({archive.size / MB / max(walls):.0f}-"
            f"{archive.size / MB / min(walls):.0f}) | {base_wall / wall:.1f} | "
            f"{archive.size / row.stored:.2f} | {row.stored / base.stored:.2f} | {cpu:.1f} | "
            f"{rss:.0f} | {archive.size / MB / row.decompress_s:.0f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
