"""Tuning sweep: the S3 store's upload concurrency and part size, measured like (a)."""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.archive_gen import GeneratedArchive
from benchmarks.measure import Sample, measure
from benchmarks.scenarios import MB, Rig

SETTINGS = ((2, 8, ""), (2, 8, "CRC32"), (3, 8, "CRC32"), (4, 8, "CRC32"), (2, 16, "CRC32"))
"""(concurrency, part MiB, ChecksumAlgorithm); the first is what the code ships with."""


def run(rig: Rig, archive: GeneratedArchive, *, repeat: int) -> list[dict[str, Any]]:
    env = {**rig.ours_env(archive), "PYTHONPATH": _repo()}
    samples: dict[tuple[int, int, str], list[Sample]] = {s: [] for s in SETTINGS}
    for i in range(repeat):
        # Round-robin, so that drift in the machine's load spreads over every setting alike.
        order = SETTINGS if i % 2 == 0 else tuple(reversed(SETTINGS))
        for concurrency, part, checksum in order:
            rig.fresh_bucket()
            argv = [rig.python, "-m", "benchmarks.tuned_run", "--concurrency", str(concurrency),
                    "--part-mib", str(part), "--no-compress", "--name", f"sweep-{i}"]  # fmt: skip
            argv += ["--checksum", checksum] if checksum else []
            sample, _ = measure(argv, env=env, cwd=rig.work)
            samples[(concurrency, part, checksum)].append(sample)
            rig.log(f"  sweep c={concurrency} part={part} MiB {checksum or '-'} #{i + 1}: "
                    f"{sample.wall_s:.2f} s rss {sample.peak_rss_kb / 1024:.0f} MiB")  # fmt: skip
    rows = []
    for (concurrency, part, checksum), runs in samples.items():
        walls = [s.wall_s for s in runs]
        rows.append(
            {
                "concurrency": concurrency,
                "part_mib": part,
                "checksum": checksum or "none",
                "wall_s": {
                    "median": statistics.median(walls),
                    "min": min(walls),
                    "max": max(walls),
                    "values": walls,
                },
                "throughput_mb_s": archive.size / MB / statistics.median(walls),
                "peak_rss_mb": statistics.median(s.peak_rss_kb * 1024 / MB for s in runs),
            }
        )
    return rows


def _repo() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parents[1])
