"""The side-by-side scenarios: BackupNimbus against the script a user would write.

Every scenario runs both sides `repeat` times in the same run, alternating which goes first, and
keeps the pairs together so ratios are taken pair by pair (ours and the baseline under the same
momentary load of this shared machine).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shlex
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.archive_gen import GeneratedArchive
from benchmarks.measure import Sample, measure, shell
from benchmarks.servers import reset_moto

MB = 1_000_000


@dataclass
class Comparison:
    id: str
    title: str
    target: str
    ours_cmd: str = ""
    baseline_cmd: str = ""
    labels: tuple[str, str] = ("BackupNimbus", "baseline")
    stream_bytes: int | None = None
    """Bytes each side moved, for throughput; None where throughput means nothing."""
    ours: list[Sample] = field(default_factory=list)
    baseline: list[Sample] = field(default_factory=list)
    ratio_name: str = ""
    ratios: list[float] = field(default_factory=list)
    extra_ratios: dict[str, list[float]] = field(default_factory=dict)
    server_cpu: dict[str, list[float]] = field(default_factory=dict)
    """moto's CPU seconds during each run, per side, where the scenario talks to moto."""
    target_met: bool | None = None
    status: str = "ok"
    notes: list[str] = field(default_factory=list)
    importtime: dict[str, Any] = field(default_factory=dict)
    breakdown: list[dict[str, Any]] = field(default_factory=list)
    """Steps of the same work measured apart, to show where the time goes."""
    stored: dict[str, list[int]] = field(default_factory=dict)
    """Bytes each side stored, run by run, where the scenario compresses."""


@dataclass
class Rig:
    """Everything the scenarios run against; paths are absolute."""

    venv_bin: Path
    aws: Path
    tools: Path
    replay: Path
    work: Path
    endpoint: str
    bucket: str
    repeat: int
    log: Callable[[str], None]
    secantus_uri: str | None = None
    server_cpu: Callable[[], float] | None = None
    """CPU seconds moto has used so far, when known."""

    @property
    def backupnimbus(self) -> str:
        return str(self.venv_bin / "backupnimbus")

    @property
    def python(self) -> str:
        return str(self.venv_bin / "python")

    def base_env(self) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/root"),
            "LANG": "C.UTF-8",
            # Neither side may pick up a developer's ~/.aws tuning: both run on defaults.
            "AWS_CONFIG_FILE": str(self.work / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.work / "no-aws-credentials"),
        }
        return env

    def baseline_env(self) -> dict[str, str]:
        return {
            **self.base_env(),
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def replay_for(
        self, archive: GeneratedArchive, *, refuse_gzip: bool = False, pipe_mib: int = 0
    ) -> Path:
        """A mongodump stand-in with its settings written into it: BackupNimbus starts mongodump
        with a minimal environment, so no setting reaches the replay through the environment."""
        settings = {"BENCH_REPLAY_ARCHIVE": str(archive.path)}
        if refuse_gzip:
            settings["BENCH_REPLAY_REFUSE_GZIP"] = "1"
        if pipe_mib:
            settings["BENCH_REPLAY_PIPE_MIB"] = str(pipe_mib)
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
        wrapper = self.work / f"mongodump-replay-{digest}"
        if not wrapper.exists():
            exports = "".join(f"export {name}={q(value)}\n" for name, value in settings.items())
            wrapper.write_text(f'#!/bin/sh\n{exports}exec {q(self.replay)} "$@"\n')
            wrapper.chmod(0o755)
        return wrapper

    def ours_env(
        self, archive: GeneratedArchive | None, *, s3: bool = True, refuse_gzip: bool = False
    ) -> dict[str, str]:
        """BackupNimbus's environment; with an archive, mongodump is the replay of it."""
        replay = self.replay_for(archive, refuse_gzip=refuse_gzip) if archive else self.replay
        env = {
            **self.base_env(),
            "MONGO_URI": b64(self.secantus_uri or "mongodb://127.0.0.1:27017/"),
            "AWS_REGION": "us-east-1",
            "MONGODUMP_PATH": str(replay),
            "MONGORESTORE_PATH": str(self.tools / "mongorestore"),
            "LOCAL_BACKUP_DIR": str(self.work / "local-ours"),
        }
        if "PYTHONPATH" in os.environ:
            # A work tree measured with a shared venv: the console script must run its code.
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        if not self.secantus_uri:
            # No server behind the replay to ask whether it is a replica set (MONGODUMP_OPLOG
            # defaults to auto, which asks).
            env["MONGODUMP_OPLOG"] = "false"
        if archive is not None:
            env["BENCH_REPLAY_ARCHIVE"] = str(archive.path)
        if s3:
            env |= {
                "AWS_S3_BUCKET_NAME": b64(self.bucket),
                "AWS_ACCESS_KEY_ID": b64("testing"),
                "AWS_SECRET_ACCESS_KEY": b64("testing"),
                "AWS_ENDPOINT_URL_S3": self.endpoint,
            }
        else:
            env["STORAGE_BACKEND"] = "local"  # the store is always chosen explicitly
        return env

    def aws_cp(self, source: str, target: str) -> str:
        return f"{q(self.aws)} --endpoint-url {self.endpoint} s3 cp {source} {target}"

    def fresh_bucket(self) -> None:
        """Empties moto (its memory and temporary files) and makes the bucket again."""
        reset_moto(self.endpoint)
        subprocess.run(
            shell(f"{q(self.aws)} --endpoint-url {self.endpoint} s3 mb s3://{self.bucket}"),
            env=self.baseline_env(), check=True, capture_output=True,
        )  # fmt: skip


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def q(value: object) -> str:
    return shlex.quote(str(value))


def paired(
    rig: Rig,
    comparison: Comparison,
    ours: Callable[[int], tuple[list[str], Mapping[str, str]]],
    baseline: Callable[[int], tuple[list[str], Mapping[str, str]]],
    *,
    between: Callable[[], None] | None = None,
    repeat: int | None = None,
    track_server: bool = True,
    stdouts: dict[str, list[str]] | None = None,
) -> None:
    """Runs both sides `repeat` times, alternating which goes first.

    `between` runs after each pair; `stdouts`, if given, collects each side's output run by run
    (before `between` runs, so it can read the pair's output).
    """
    for i in range(repeat or rig.repeat):
        sides = [("ours", ours), ("baseline", baseline)]
        if i % 2:
            sides.reverse()
        for side, make in sides:
            argv, env = make(i)
            server_before = rig.server_cpu() if rig.server_cpu and track_server else 0.0
            sample, stdout = measure(argv, env=env, cwd=rig.work)
            getattr(comparison, side).append(sample)
            if stdouts is not None:
                stdouts.setdefault(side, []).append(stdout)
            server = ""
            if rig.server_cpu and track_server:
                used = rig.server_cpu() - server_before
                comparison.server_cpu.setdefault(side, []).append(round(used, 2))
                server = f"  moto cpu {used:6.2f} s"
            rig.log(
                f"  ({comparison.id}) #{i + 1} {side:8} {sample.wall_s:7.2f} s  "
                f"cpu {sample.cpu_s:6.2f} s  rss {sample.peak_rss_kb / 1024:6.1f} MiB{server}"
            )
        if between is not None:
            between()


def upload(
    rig: Rig,
    archive: GeneratedArchive,
    *,
    compress: bool,
    label: str,
    tuned: tuple[int, int, str] | None = None,
) -> Comparison:
    """(a) `backupnimbus run` into moto S3 against `replay | aws s3 cp - s3://...`.

    With `tuned` (concurrency, part MiB, checksum algorithm or ""), ours is
    benchmarks.tuned_run: the same CLI path with only those settings of the S3 store changed, to
    measure a proposed default.
    """
    stream = archive.gz_path.stat().st_size if compress else archive.size
    form = "gzip" if compress else "uncompressed"
    title = f"Upload to S3 (moto), {human(archive.size)} archive, {form}"
    if tuned:
        title += f", proposed: concurrency {tuned[0]}, {tuned[1]} MiB parts"
        title += f", ChecksumAlgorithm={tuned[2]}" if tuned[2] else ""
    comparison = Comparison(
        id=label,
        title=title,
        target="throughput ratio ≥ 1.0 and peak RSS ≤ aws s3 cp",
        stream_bytes=stream,
        ratio_name="throughput ours/baseline",
    )
    flags = [] if compress else ["--no-compress"]
    gzip_flag = " --gzip" if compress else ""
    env = rig.ours_env(archive)
    if tuned:
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
        command = [rig.python, "-m", "benchmarks.tuned_run", "--concurrency", str(tuned[0]),
                   "--part-mib", str(tuned[1])]  # fmt: skip
        command += ["--checksum", tuned[2]] if tuned[2] else []
    else:
        command = [rig.backupnimbus, "run", "--json"]

    def ours(i: int) -> tuple[list[str], Mapping[str, str]]:
        return [*command, "--name", f"{label}-{i}", *flags], env

    def baseline(i: int) -> tuple[list[str], Mapping[str, str]]:
        source = f"BENCH_REPLAY_ARCHIVE={q(archive.path)} {q(rig.replay)} --archive{gzip_flag}"
        target = f"s3://{rig.bucket}/baseline/{label}-{i}.archive"
        return shell(f"{source} | {rig.aws_cp('-', target)}"), rig.baseline_env()

    rig.fresh_bucket()
    comparison.ours_cmd = shlex.join(ours(0)[0])
    comparison.baseline_cmd = baseline(0)[0][-1]
    paired(rig, comparison, ours, baseline, between=rig.fresh_bucket)
    comparison.ratios = [b.wall_s / o.wall_s for o, b in _pairs(comparison)]
    rss = [o.peak_rss_kb / b.peak_rss_kb for o, b in _pairs(comparison)]
    comparison.extra_ratios["peak RSS ours/baseline"] = rss
    comparison.target_met = median(comparison.ratios) >= 1.0 and median(rss) <= 1.0
    return comparison


def local_store(rig: Rig, archive: GeneratedArchive, *, pipe_mib: int = 0) -> Comparison:
    """(b) `backupnimbus run` into the local-directory store against `replay > file`.

    With `pipe_mib`, the dump's pipe is enlarged to that size (by the replay, see replay.py):
    what the mongodump adapter would gain by enlarging it on its side.
    """
    title = f"Local store, {human(archive.size)} archive, uncompressed"
    comparison = Comparison(
        id="b-pipe" if pipe_mib else "b",
        title=title + (f", proposed: {pipe_mib} MiB dump pipe" if pipe_mib else ""),
        target="≥ 0.8 of the replay > file limit",
        stream_bytes=archive.size,
        ratio_name="throughput ours/limit",
        labels=("BackupNimbus", "replay > file"),
    )
    ours_dir = rig.work / "local-ours"
    base_dir = rig.work / "local-baseline"
    env = rig.ours_env(archive, s3=False)
    if pipe_mib:
        env["MONGODUMP_PATH"] = str(rig.replay_for(archive, pipe_mib=pipe_mib))

    def ours(i: int) -> tuple[list[str], Mapping[str, str]]:
        return [rig.backupnimbus, "run", "--json", "--no-compress", "--name", f"b-{i}"], env

    def baseline(i: int) -> tuple[list[str], Mapping[str, str]]:
        base_dir.mkdir(parents=True, exist_ok=True)
        target = base_dir / f"b-{i}.archive"
        source = f"BENCH_REPLAY_ARCHIVE={q(archive.path)} {q(rig.replay)} --archive"
        return shell(f"{source} > {q(target)}"), rig.base_env()

    def clean() -> None:
        for directory in (ours_dir, base_dir):
            subprocess.run(["rm", "-rf", str(directory)], check=True)

    clean()
    comparison.ours_cmd = shlex.join(ours(0)[0])
    comparison.baseline_cmd = baseline(0)[0][-1]
    paired(rig, comparison, ours, baseline, between=clean, track_server=False)
    comparison.ratios = [b.wall_s / o.wall_s for o, b in _pairs(comparison)]
    comparison.target_met = median(comparison.ratios) >= 0.8
    comparison.notes.append(
        "BackupNimbus fsyncs the archive before linking it into place (a crash never leaves a "
        "partial backup under the final name) and hashes it with SHA-256 for the manifest; "
        "`replay > file` does neither, so its time is page-cache speed."
    )
    return comparison


_SINK_STEPS: tuple[tuple[str, list[str]], ...] = (
    ("read the pipe (1 MiB reads)", []),
    ("+ SHA-256", ["--sha256"]),
    ("+ write the file", ["--sha256", "--write", "{file}"]),
    ("+ fsync (the local store's work)", ["--sha256", "--write", "{file}", "--fsync"]),
    ("same, 1 MiB pipe buffer", ["--sha256", "--write", "{file}", "--fsync", "--pipe-mib", "1"]),
    ("same, hash and write on two threads",
     ["--sha256", "--write", "{file}", "--fsync", "--threads"]),
)  # fmt: skip


def local_breakdown(rig: Rig, archive: GeneratedArchive, comparison: Comparison) -> None:
    """Where (b)'s time goes: benchmarks/sink.py doing one more step of the work at a time."""
    sink = Path(__file__).resolve().with_name("sink.py")
    target = rig.work / "sink.archive"
    source = f"BENCH_REPLAY_ARCHIVE={q(archive.path)} {q(rig.replay)} --archive"
    # The disk's durable limit first: the baseline's copy, made durable the way dd does it.
    durable = f"{source} | dd of={q(target)} bs=1M conv=fsync status=none"
    steps = [("dd conv=fsync, no hash (the disk's durable limit)", durable)]
    for label, flags in _SINK_STEPS:
        argv = [rig.python, "-I", "-S", str(sink), *(f.format(file=target) for f in flags)]
        steps.append((label, f"{source} | {shlex.join(argv)}"))
    runs: dict[str, list[Sample]] = {label: [] for label, _ in steps}
    for i in range(rig.repeat):
        # Round-robin, so that a noisy moment of this shared machine hits every step alike.
        for label, command in steps if i % 2 == 0 else reversed(steps):
            sample, _ = measure(shell(command), env=rig.base_env(), cwd=rig.work)
            runs[label].append(sample)
            target.unlink(missing_ok=True)
    for label, command in steps:
        samples = runs[label]
        walls = [s.wall_s for s in samples]
        rig.log(f"  (b) breakdown {label}: {median(walls):.2f} s")
        comparison.breakdown.append(
            {
                "step": label,
                "command": command,
                "wall_s": {"median": median(walls), "min": min(walls), "max": max(walls)},
                "cpu_s": median([s.cpu_s for s in samples]),
            }
        )


def memory_flatness(small: Comparison, large: Comparison) -> Comparison:
    """(c) Peak RSS of `backupnimbus run` into S3 at the large size against the small size."""
    comparison = Comparison(
        id="c",
        title=f"Memory flatness: peak RSS of backupnimbus run (S3) at {large.title.split(', ')[1]}"
        f" vs {small.title.split(', ')[1]}",
        target="RSS ratio ≤ 1.1 and peak RSS ≤ 120 MB",
        labels=("BackupNimbus, large", "BackupNimbus, small"),
        ours_cmd=large.ours_cmd,
        baseline_cmd=small.ours_cmd,
        ours=list(large.ours),
        baseline=list(small.ours),
        ratio_name="peak RSS large/small",
    )
    comparison.ratios = [o.peak_rss_kb / b.peak_rss_kb for o, b in _pairs(comparison)]
    peak = max(s.peak_rss_kb for s in comparison.ours) * 1024 / MB
    comparison.target_met = median(comparison.ratios) <= 1.1 and peak <= 120
    comparison.notes.append(f"largest peak RSS over every run: {peak:.1f} MB")
    return comparison


_COLD_START = """
import backupnimbus.entrypoints.lambda_handler
from backupnimbus.entrypoints.container import bootstrap, config_from_environment
from backupnimbus.entrypoints.jobs import Jobs
from backupnimbus.entrypoints.logging import configure_logging
from backupnimbus.redaction import Redactor
config = config_from_environment()
redactor = Redactor(config.secret_values())
configure_logging(level=config.log_level, redactor=redactor)
app = bootstrap(config, redactor=redactor)
jobs = Jobs(config=app.config, container=app.container)
"""
_RESOLVE = """
from backupnimbus.domain.run_backup import RunBackup
jobs.container.resolve(RunBackup)
"""


def cold_start(rig: Rig, *, repeat: int) -> list[Comparison]:
    """(d) Import the Lambda handler and build its container, against `import boto3`.

    The same work the handler does on its first invocation (configuration from the
    environment, logging, bootstrap), in a fresh interpreter each time. A second, informational
    row adds resolving RunBackup, which creates the S3 client, against import boto3 plus
    boto3.client('s3'): equal work on both sides.
    """
    env = {
        **rig.base_env(),
        "AWS_LAMBDA_FUNCTION_NAME": "backupnimbus-bench",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "MONGO_URI": b64("mongodb://127.0.0.1:27017/"),
        "AWS_S3_BUCKET_NAME": b64(rig.bucket),
    }
    rows = [
        ("d", "Cold start: import the Lambda handler + build its container",
         _COLD_START, "import boto3", "≤ 1.3x import boto3"),
        ("d2", "Cold start + resolve RunBackup (creates the S3 client), informational",
         _COLD_START + _RESOLVE, "import boto3\nboto3.client('s3', region_name='us-east-1')",
         "informational"),
    ]  # fmt: skip
    results = []
    for ident, title, ours_code, base_code, target in rows:
        comparison = Comparison(
            id=ident, title=title, target=target, ratio_name="time ours/baseline",
            labels=("handler + container", base_code.replace("\n", "; ")),
        )  # fmt: skip
        ours_argv = [rig.python, "-c", ours_code.strip()]
        base_argv = [rig.python, "-c", base_code]
        # Compile the bytecode once, so every measured start reads .pyc files like a deployed
        # image does.
        for argv in (ours_argv, base_argv):
            measure(argv, env=env)
        comparison.ours_cmd = shlex.join(ours_argv)
        comparison.baseline_cmd = shlex.join(base_argv)
        paired(rig, comparison, _fixed(ours_argv, env), _fixed(base_argv, env),
               repeat=repeat, track_server=False)  # fmt: skip
        comparison.ratios = [o.wall_s / b.wall_s for o, b in _pairs(comparison)]
        if ident == "d":
            comparison.target_met = median(comparison.ratios) <= 1.3
            comparison.importtime = {
                "ours": importtime(rig, ours_argv, env),
                "baseline": importtime(rig, base_argv, env),
            }
        results.append(comparison)
    return results


def importtime(rig: Rig, argv: list[str], env: Mapping[str, str]) -> dict[str, Any]:
    """`python -X importtime`: the heaviest top-level imports and the heaviest modules."""
    completed = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]], env=dict(env), capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    rows = []
    for line in completed.stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|", 2)
        rows.append((name.rstrip(), int(self_us), int(cumulative_us)))
    top_level = [r for r in rows if not r[0].startswith("   ")]
    total = sum(r[2] for r in top_level)
    by_cumulative = sorted(top_level, key=lambda r: -r[2])[:8]
    by_self = sorted(rows, key=lambda r: -r[1])[:8]
    return {
        "total_ms": total / 1000,
        "top_level": [
            {"module": n.strip(), "cumulative_ms": c / 1000} for n, _, c in by_cumulative
        ],
        "self": [{"module": n.strip(), "self_ms": s / 1000} for n, s, _ in by_self],
    }


def verify(rig: Rig, archive: GeneratedArchive) -> Comparison:
    """(e) `backupnimbus verify --file` against `sha256sum` of the same uncompressed archive."""
    comparison = Comparison(
        id="e",
        title=f"Verify, {human(archive.size)} uncompressed archive",
        target="≥ 0.5x sha256sum throughput",
        stream_bytes=archive.size,
        ratio_name="throughput ours/sha256sum",
        labels=("backupnimbus verify --file", "sha256sum"),
    )
    env = rig.ours_env(None, s3=False)
    ours_argv = [rig.backupnimbus, "verify", "--file", str(archive.path), "--json"]
    base_argv = ["sha256sum", str(archive.path)]
    measure(base_argv, env=env)  # the archive into the page cache, for both sides alike
    comparison.ours_cmd = shlex.join(ours_argv)
    comparison.baseline_cmd = shlex.join(base_argv)
    paired(rig, comparison, lambda i: (ours_argv, env), lambda i: (base_argv, rig.base_env()),
           track_server=False)  # fmt: skip
    comparison.ratios = [b.wall_s / o.wall_s for o, b in _pairs(comparison)]
    comparison.target_met = median(comparison.ratios) >= 0.5
    comparison.notes.append(
        "verify also walks every BSON length and checks every collection's CRC-64/XZ, "
        "besides the SHA-256 that sha256sum computes."
    )
    return comparison


def restore(rig: Rig, archive: GeneratedArchive, *, dry_run: bool) -> Comparison:
    """(f) `backupnimbus restore` from moto against `aws s3 cp s3://... - | mongorestore`.

    With `dry_run`, as the restore target is stated: `mongorestore --archive --dryRun` reads only
    the archive's prelude and exits, so the baseline's `aws s3 cp` dies of a broken pipe after a few
    megabytes (its exit status is dropped, as in a script without pipefail), while
    BackupNimbus reads the whole archive to check its SHA-256 against the manifest. Without
    `dry_run`, both sides restore everything into SecantusDB (renamed to `restored.*`, dropped
    first): equal work, with the server as the likely limit.
    """
    assert rig.secantus_uri is not None
    ident, mode = ("f", "--dry-run") if dry_run else ("f2", "full restore into SecantusDB")
    comparison = Comparison(
        id=ident,
        title=f"Restore from S3 (moto), {mode}, {human(archive.size)} archive",
        target="ratio ≥ 1.0" if dry_run else "ratio ≥ 1.0 (equal work)",
        stream_bytes=None if dry_run else archive.size,
        ratio_name="time baseline/ours" if dry_run else "throughput ours/baseline",
    )
    rig.fresh_bucket()
    env = rig.ours_env(archive)
    seeded, stdout = measure(
        [rig.backupnimbus, "run", "--json", "--no-compress", "--name", "restore-source"], env=env
    )
    key = json.loads(stdout)["key"]
    rig.log(f"  ({ident}) seeded s3://{rig.bucket}/{key} in {seeded.wall_s:.1f} s")
    env = {**env, "RESTORE_TARGET_URI": b64(rig.secantus_uri)}
    mongorestore = f"{q(rig.tools / 'mongorestore')} --uri={rig.secantus_uri} --archive"
    if dry_run:
        ours_argv = [rig.backupnimbus, "restore", key, "--dry-run", "--json"]
        mongorestore += " --dryRun"
    else:
        ours_argv = [rig.backupnimbus, "restore", key, "--json", "--drop",
                     "--ns-from", "bench.*", "--ns-to", "restored.*"]  # fmt: skip
        mongorestore += " --drop --nsFrom='bench.*' --nsTo='restored.*'"
    base_cmd = f"{rig.aws_cp(f's3://{rig.bucket}/{key}', '-')} | {mongorestore}"
    base_argv = ["/bin/bash", "-c", base_cmd] if dry_run else shell(base_cmd)
    comparison.ours_cmd = shlex.join(ours_argv)
    comparison.baseline_cmd = base_cmd
    paired(rig, comparison, lambda i: (ours_argv, env),
           lambda i: (base_argv, rig.baseline_env()))  # fmt: skip
    comparison.ratios = [b.wall_s / o.wall_s for o, b in _pairs(comparison)]
    comparison.target_met = median(comparison.ratios) >= 1.0
    if dry_run:
        comparison.notes.append(
            "Unequal work: `mongorestore --archive --dryRun` stops reading after the prelude, so "
            "the baseline downloads only a few MB before `aws s3 cp` fails with a broken pipe "
            "(the pipeline's status is mongorestore's 0). BackupNimbus drains the rest of the "
            "object so that the SHA-256 covers every byte and is checked against the manifest: "
            "a dry run that says the backup is sound has read all of it. See (f2) for the "
            "equal-work comparison."
        )
    else:
        comparison.notes.append(
            "Both sides stream the whole archive into SecantusDB; BackupNimbus also checks the "
            "SHA-256 against the manifest on the way."
        )
    return comparison


def real_mongodump(rig: Rig, archive: GeneratedArchive) -> Comparison:
    """(g) The real path: mongodump against SecantusDB (loaded from `archive`), into moto."""
    assert rig.secantus_uri is not None
    mongodump = rig.tools / "mongodump"
    comparison = Comparison(
        id="g",
        title="Real mongodump from SecantusDB into S3 (moto), uncompressed",
        target="informational (the real path; ratio ≥ 1.0 hoped for)",
        ratio_name="throughput ours/baseline",
    )
    env = {**rig.ours_env(None), "MONGODUMP_PATH": str(mongodump)}

    def ours(i: int) -> tuple[list[str], Mapping[str, str]]:
        return [rig.backupnimbus, "run", "--json", "--no-compress", "--name", f"g-{i}"], env

    def baseline(i: int) -> tuple[list[str], Mapping[str, str]]:
        target = f"s3://{rig.bucket}/baseline/g-{i}.archive"
        dump = f"{q(mongodump)} --uri={rig.secantus_uri} --archive"
        return shell(f"{dump} | {rig.aws_cp('-', target)}"), rig.baseline_env()

    rig.fresh_bucket()
    comparison.ours_cmd = shlex.join(ours(0)[0])
    comparison.baseline_cmd = baseline(0)[0][-1]
    # The size of what the real mongodump writes for this server, measured once.
    probe = subprocess.run(
        shell(f"{q(mongodump)} --uri={rig.secantus_uri} --archive 2>/dev/null | wc -c"),
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    comparison.stream_bytes = int(probe.stdout.strip())
    paired(rig, comparison, ours, baseline, between=rig.fresh_bucket)
    comparison.ratios = [b.wall_s / o.wall_s for o, b in _pairs(comparison)]
    comparison.notes.append(
        f"SecantusDB loaded with the generated {human(archive.size)} archive by "
        "mongorestore; both sides run the real mongodump against it."
    )
    return comparison


def not_run(ident: str, title: str, reason: str) -> Comparison:
    return Comparison(id=ident, title=title, target="-", status=f"not run: {reason}")


def median(values: list[float]) -> float:
    import statistics

    return statistics.median(values) if values else float("nan")


def human(size: int) -> str:
    """Bytes in binary units: 256 MiB, 2 GiB."""
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor:
            value = size / factor
            digits = 0 if value >= 10 or abs(value - round(value)) < 0.01 else 1
            return f"{value:.{digits}f} {unit}"
    return f"{size} B"


def _fixed(
    argv: list[str], env: Mapping[str, str]
) -> Callable[[int], tuple[list[str], Mapping[str, str]]]:
    return lambda _: (argv, env)


def _pairs(comparison: Comparison) -> list[tuple[Sample, Sample]]:
    return list(zip(comparison.ours, comparison.baseline, strict=True))
