"""Scenario (h): a compressed backup, BackupNimbus compressing against mongodump's gzip.

`mongodump --archive --gzip` compresses with Go's compress/gzip on one goroutine; the baseline
is exactly that (benchmarks/gogzip, built from source by gobaseline.py) behind the replay of the
uncompressed realistic archive. BackupNimbus runs mongodump without --gzip and compresses the
stream itself (BACKUP_COMPRESSION, default gzip). The replay refuses --gzip here
(BENCH_REPLAY_REFUSE_GZIP), so a build that still asks mongodump to compress fails the scenario
instead of timing a precompressed file.

Rows: to the local store (`replay | gogzip > file`) and to moto (`replay | gogzip | aws s3 cp -`),
with the defaults and with zstd; the restore of the same backup against
`gunzip | mongorestore --archive --dryRun`; and (h-real) the real mongodump with --gzip against
BackupNimbus with the defaults, both into moto.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from benchmarks.archive_gen import GeneratedArchive
from benchmarks.measure import measure, shell
from benchmarks.scenarios import Comparison, Rig, _pairs, b64, human, median, paired, q

LAMBDA_SECONDS = 15 * 60
RSS_BUDGET_MB = 120
SUFFIXES = {"gzip": ".archive.gz", "zstd": ".archive.zst", "none": ".archive"}
MAGICS = {"gzip": b"\x1f\x8b", "zstd": b"\x28\xb5\x2f\xfd", "none": b"\x6d\xe2\x99\x81"}


def supported(backupnimbus: str, env: Mapping[str, str]) -> bool:
    """Whether this BackupNimbus compresses by itself: it knows BACKUP_COMPRESSION, so a value
    it cannot take is a configuration error (exit 2), where an older one ignores the variable.

    `env` is the environment the scenarios run it with (no PYTHONPATH: the installed package).
    """
    with tempfile.TemporaryDirectory(prefix="probe-") as empty:
        probe = {
            **env,
            "STORAGE_BACKEND": "local",
            "LOCAL_BACKUP_DIR": empty,
            "MONGO_URI": b64("mongodb://127.0.0.1:1/"),
            "BACKUP_COMPRESSION": "not-a-setting",
        }
        completed = subprocess.run(
            [backupnimbus, "list", "--json"], env=probe, capture_output=True, text=True
        )
    return completed.returncode == 2 and "BACKUP_COMPRESSION" in completed.stdout + completed.stderr


def backup(
    rig: Rig,
    archive: GeneratedArchive,
    gogzip: Path,
    *,
    store: str,
    compression: str = "gzip",
) -> Comparison:
    """(h-local), (h-s3) and their zstd rows: one compressed backup, ours against the baseline."""
    assert store in ("local", "s3")
    s3 = store == "s3"
    default = compression == "gzip"
    ident = f"h-{store}" + ("" if default else f"-{compression}")
    where = "S3 (moto)" if s3 else "the local store"
    setting = "defaults (gzip)" if default else f"BACKUP_COMPRESSION={compression}"
    gated = default and not s3
    comparison = Comparison(
        id=ident,
        title=f"Compressed backup to {where}, {setting}, {human(archive.size)} realistic archive",
        target=f"throughput ≥ 5x, stored size ≤ 1.3x, peak RSS ≤ {RSS_BUDGET_MB} MB"
        if gated
        else f"peak RSS ≤ {RSS_BUDGET_MB} MB (throughput and size informational)",
        stream_bytes=archive.size,
        ratio_name="throughput ours/baseline",
        labels=("BackupNimbus", "mongodump's gzip (Go)"),
    )
    ours_dir = rig.work / "local-ours"
    base_dir = rig.work / "local-baseline"
    env = rig.ours_env(archive, s3=s3, refuse_gzip=True)
    if not default:
        env["BACKUP_COMPRESSION"] = compression
    source = f"BENCH_REPLAY_ARCHIVE={q(archive.path)} {q(rig.replay)} --archive | {q(gogzip)}"
    stdouts: dict[str, list[str]] = {}
    keys: list[str] = []

    def ours(i: int) -> tuple[list[str], Mapping[str, str]]:
        return [rig.backupnimbus, "run", "--json", "--name", f"{ident}-{i}"], env

    def base_key(i: int) -> str:
        return f"baseline/{ident}-{i}.archive.gz"

    def baseline(i: int) -> tuple[list[str], Mapping[str, str]]:
        if s3:
            target = f"s3://{rig.bucket}/{base_key(i)}"
            return shell(f"{source} | {rig.aws_cp('-', target)}"), rig.baseline_env()
        (base_dir / "baseline").mkdir(parents=True, exist_ok=True)
        return shell(f"{source} > {q(base_dir / base_key(i))}"), rig.base_env()

    def clean() -> None:
        if s3:
            rig.fresh_bucket()
        else:
            for directory in (ours_dir, base_dir):
                subprocess.run(["rm", "-rf", str(directory)], check=True)

    def record_sizes() -> None:
        """The stored bytes of the pair just run, then a clean slate for the next pair."""
        i = len(keys)
        key = json.loads(stdouts["ours"][-1])["key"]
        keys.append(key)
        if s3:
            sizes = (_s3_size(rig, key), _s3_size(rig, base_key(i)))
        else:
            _check_magic(ours_dir / key, compression)
            sizes = ((ours_dir / key).stat().st_size, (base_dir / base_key(i)).stat().st_size)
        comparison.stored.setdefault("ours", []).append(sizes[0])
        comparison.stored.setdefault("baseline", []).append(sizes[1])
        clean()

    clean()
    comparison.ours_cmd = shlex.join(ours(0)[0])
    if not default:
        comparison.ours_cmd = f"BACKUP_COMPRESSION={compression} {comparison.ours_cmd}"
    comparison.baseline_cmd = baseline(0)[0][-1]
    paired(rig, comparison, ours, baseline, between=record_sizes, track_server=s3,
           stdouts=stdouts)  # fmt: skip
    suffix = SUFFIXES[compression]
    wrong = [key for key in keys if not key.endswith(suffix)]
    if wrong:
        raise RuntimeError(f"({ident}) BackupNimbus stored {wrong[0]!r}, expected a {suffix} key")
    comparison.ratios = [b.wall_s / o.wall_s for o, b in _pairs(comparison)]
    size_ratios = _stored_ratios(comparison)
    comparison.extra_ratios["stored size ours/baseline"] = size_ratios
    for side in ("ours", "baseline"):
        ratios = [archive.size / stored for stored in comparison.stored[side]]
        comparison.extra_ratios[f"compression ratio {side}"] = ratios
    peak = max(s.peak_rss_kb for s in comparison.ours) * 1024 / 1e6
    rss_ok = peak <= RSS_BUDGET_MB
    comparison.target_met = rss_ok
    if gated:
        fast = median(comparison.ratios) >= 5.0
        comparison.target_met = fast and median(size_ratios) <= 1.3 and rss_ok
    comparison.notes.append(f"largest peak RSS of BackupNimbus over every run: {peak:.1f} MB")
    comparison.notes.append(
        "Both sides read the same uncompressed archive from the replay (sendfile(2)); CPU is "
        "the whole process tree's: the replay, the compressor, and aws s3 cp or BackupNimbus."
    )
    return comparison


def restore(
    rig: Rig, archive: GeneratedArchive, gogzip: Path, *, compression: str = "gzip"
) -> list[Comparison]:
    """(h-restore): `backupnimbus restore KEY --dry-run` of a compressed backup in the local
    store, against `gunzip -c FILE | mongorestore --archive --dryRun` of the baseline's file.

    `mongorestore --archive --dryRun` reads the prelude (64 KiB) and exits, so that pipeline
    decompresses almost nothing, whatever the size; BackupNimbus must read and decompress every
    byte to check the manifest's SHA-256. So the literal comparison is informational, and the
    target is taken against the same pipeline made to decompress the whole file (`tee -p` keeps
    gunzip going after mongorestore exits): equal work, but the SHA-256.
    """
    assert rig.secantus_uri is not None
    default = compression == "gzip"
    suffix = "" if default else f"-{compression}"
    setting = "defaults (gzip)" if default else f"BACKUP_COMPRESSION={compression}"
    ours_dir = rig.work / "local-ours"
    subprocess.run(["rm", "-rf", str(ours_dir)], check=True)
    env = {
        **rig.ours_env(archive, s3=False, refuse_gzip=True),
        "RESTORE_TARGET_URI": b64(rig.secantus_uri),
    }
    if not default:
        env["BACKUP_COMPRESSION"] = compression
    seeded, stdout = measure(
        [rig.backupnimbus, "run", "--json", "--name", f"h-restore{suffix}-source"],
        env=env, cwd=rig.work,
    )  # fmt: skip
    key = json.loads(stdout)["key"]
    base_file = rig.work / f"h-restore{suffix}-baseline.archive.gz"
    subprocess.run(
        shell(f"{q(gogzip)} < {q(archive.path)} > {q(base_file)}"), check=True, env=rig.base_env()
    )
    rig.log(f"  (h-restore{suffix}) seeded {key} in {seeded.wall_s:.1f} s, and {base_file.name}")
    # A dry run lists the target's existing namespaces with mongodump: the real one, here.
    env = {**env, "MONGODUMP_PATH": str(rig.tools / "mongodump")}
    ours_argv = [rig.backupnimbus, "restore", key, "--dry-run", "--json"]
    mongorestore = f"{q(rig.tools / 'mongorestore')} --uri={rig.secantus_uri} --archive --dryRun"
    # No pipefail, as in a script: when mongorestore stops reading, gunzip dies of SIGPIPE.
    literal = f"gunzip -c {q(base_file)} | {mongorestore}"
    whole = f"gunzip -c {q(base_file)} | tee -p >({mongorestore}) >/dev/null"
    rows = [(f"h-restore{suffix}-whole", whole, "gunzip all | tee | mongorestore --dryRun")]
    if default:
        rows.insert(0, ("h-restore", literal, "gunzip | mongorestore --dryRun"))
    comparisons = []
    for ident, base_cmd, label in rows:
        gated = default and ident.endswith("-whole")
        comparison = Comparison(
            id=ident,
            title=f"Restore --dry-run of the compressed backup, {setting}, "
            f"{human(archive.size)}"
            + (", baseline decompressing everything" if ident.endswith("-whole") else ""),
            target="ratio ≥ 1.0 (no slower than the baseline)" if gated else "informational",
            stream_bytes=archive.size,
            ratio_name="time baseline/ours",
            labels=("backupnimbus restore --dry-run", label),
        )
        comparison.ours_cmd = shlex.join(ours_argv)
        comparison.baseline_cmd = base_cmd
        paired(rig, comparison, lambda i: (ours_argv, env), _fixed_baseline(rig, base_cmd),
               track_server=False)  # fmt: skip
        comparison.ratios = [b.wall_s / o.wall_s for o, b in _pairs(comparison)]
        comparison.target_met = median(comparison.ratios) >= 1.0 if gated else None
        if ident == "h-restore":
            comparison.notes.append(
                "Unequal work: `mongorestore --archive --dryRun` reads the prelude (64 KiB) and "
                "exits, and gunzip dies of SIGPIPE right after, whatever the archive's size. "
                "BackupNimbus reads, decompresses and hashes the whole backup to check it against "
                "the manifest. See (h-restore-whole) for the equal-work comparison."
            )
        else:
            comparison.notes.append(
                "Equal work but the SHA-256: the baseline decompresses the whole file "
                "(`tee -p` keeps writing after mongorestore exits); BackupNimbus also checks the "
                "stored bytes' SHA-256 against the manifest."
            )
        comparisons.append(comparison)
    subprocess.run(["rm", "-rf", str(ours_dir)], check=True)
    base_file.unlink(missing_ok=True)
    return comparisons


def real(rig: Rig) -> Comparison:
    """(h-real): the real mongodump from SecantusDB with --gzip | aws s3 cp, against
    BackupNimbus with the defaults (mongodump without --gzip, BackupNimbus compressing)."""
    assert rig.secantus_uri is not None
    mongodump = rig.tools / "mongodump"
    comparison = Comparison(
        id="h-real",
        title="Real mongodump from SecantusDB into S3 (moto), compressed, defaults",
        target="informational (SecantusDB is slow; the real path)",
        ratio_name="throughput ours/baseline",
        labels=("BackupNimbus", "mongodump --gzip | aws s3 cp"),
    )
    env = {**rig.ours_env(None), "MONGODUMP_PATH": str(mongodump)}
    stdouts: dict[str, list[str]] = {}

    def ours(i: int) -> tuple[list[str], Mapping[str, str]]:
        return [rig.backupnimbus, "run", "--json", "--name", f"h-real-{i}"], env

    def baseline(i: int) -> tuple[list[str], Mapping[str, str]]:
        target = f"s3://{rig.bucket}/baseline/h-real-{i}.archive.gz"
        dump = f"{q(mongodump)} --uri={rig.secantus_uri} --archive --gzip"
        return shell(f"{dump} | {rig.aws_cp('-', target)}"), rig.baseline_env()

    def record_sizes() -> None:
        i = len(comparison.stored.get("ours", []))
        key = json.loads(stdouts["ours"][-1])["key"]
        comparison.stored.setdefault("ours", []).append(_s3_size(rig, key))
        base = _s3_size(rig, f"baseline/h-real-{i}.archive.gz")
        comparison.stored.setdefault("baseline", []).append(base)
        rig.fresh_bucket()

    rig.fresh_bucket()
    comparison.ours_cmd = shlex.join(ours(0)[0])
    comparison.baseline_cmd = baseline(0)[0][-1]
    probe = subprocess.run(
        shell(f"{q(mongodump)} --uri={rig.secantus_uri} --archive 2>/dev/null | wc -c"),
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    comparison.stream_bytes = int(probe.stdout.strip())
    paired(rig, comparison, ours, baseline, between=record_sizes, stdouts=stdouts)
    comparison.ratios = [b.wall_s / o.wall_s for o, b in _pairs(comparison)]
    comparison.extra_ratios["stored size ours/baseline"] = _stored_ratios(comparison)
    comparison.notes.append(
        "Throughput counts the uncompressed archive mongodump writes for this server "
        "(measured once with `mongodump --archive | wc -c`)."
    )
    return comparison


def _fixed_baseline(rig: Rig, command: str) -> Callable[[int], tuple[list[str], Mapping[str, str]]]:
    argv = ["/bin/bash", "-c", command]
    return lambda _: (argv, rig.base_env())


def capacity_gb(throughput_mb_s: float) -> float:
    """The largest uncompressed dump a 15-minute Lambda gets through at this throughput, GB."""
    return throughput_mb_s * LAMBDA_SECONDS / 1000


def _stored_ratios(comparison: Comparison) -> list[float]:
    stored = comparison.stored
    return [o / b for o, b in zip(stored["ours"], stored["baseline"], strict=True)]


def _s3_size(rig: Rig, key: str) -> int:
    completed = subprocess.run(
        shell(f"{q(rig.aws)} --endpoint-url {rig.endpoint} s3api head-object "
              f"--bucket {q(rig.bucket)} --key {q(key)}"),
        env=rig.baseline_env(), capture_output=True, text=True, check=True,
    )  # fmt: skip
    return int(json.loads(completed.stdout)["ContentLength"])


def _check_magic(path: Path, compression: str) -> None:
    with path.open("rb") as handle:
        head = handle.read(4)
    if not head.startswith(MAGICS[compression]):
        raise RuntimeError(f"{path.name} does not start like {compression}: {head.hex()}")
