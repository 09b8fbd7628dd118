"""`make bench`: runs every scenario and writes results.json, docs/benchmarks.md and the plot.

    python -m benchmarks.run [--sizes 256M,2G] [--repeat 3] [--only a,b,c,d,e,f,g,h] [--no-sweep]
    python -m benchmarks.run --render   # make bench-docs: the doc and plot from results.json

Needs: the project venv (this interpreter, with moto, SecantusDB and matplotlib), awscli in its
own venv (--aws, default: the one `make bench` installs), and the MongoDB tools (MONGO_TOOLS_BIN
or scripts/build-mongo-tools), and for (h) the machine's `go`, which builds the baseline
compressor (benchmarks/gogzip). Archives are generated once into the cache
(BACKUPNIMBUS_BENCH_CACHE, default ~/.cache/backupnimbus/bench), never in the repository.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks import archive_gen, compression, gobaseline, report, scenarios, servers, sweep
from benchmarks.scenarios import Comparison, Rig

REPO = Path(__file__).resolve().parents[1]
ALL = ("a", "b", "c", "d", "e", "f", "g", "h")
TUNED = (3, 8, "CRC32")
"""S3 settings proposed for the core: concurrency, part MiB, ChecksumAlgorithm; see (a-tuned)."""
ORDER = ("a-small", "a-large", "a-tuned", "a-gz", "b", "b-pipe", "c", "d", "d2", "e", "f", "f2",
         "g", "h-local", "h-local-zstd", "h-s3", "h-s3-zstd", "h-restore", "h-restore-whole",
         "h-restore-zstd-whole", "h-real")  # fmt: skip
_UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.render:
        write_outputs(args, recorded(Path(args.results)))
        return 0
    started = time.monotonic()
    started_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    only = set(args.only.split(",")) if args.only else set(ALL)
    small_size, large_size = (parse_size(s) for s in args.sizes.split(","))
    cache = Path(args.cache) if args.cache else archive_gen.default_cache()
    venv_bin = Path(sys.executable).parent
    tools = Path(args.tools) if args.tools else mongo_tools()
    aws = Path(args.aws) if args.aws else cache / "awscli-venv" / "bin" / "aws"
    for needed in (aws, tools / "mongodump", tools / "mongorestore", venv_bin / "backupnimbus"):
        if not os.access(needed, os.X_OK):
            raise SystemExit(f"bench: {needed} is missing; `make bench` installs it")

    log(f"archives: {small_size:,} and {large_size:,} bytes, cached in {cache}")

    @functools.cache
    def mixed(size: int) -> archive_gen.GeneratedArchive:
        """A mixed-kind archive, generated (or taken from the cache) when first needed."""
        made: archive_gen.GeneratedArchive = timed(
            f"generate {size:,}", lambda: archive_gen.ensure_archive(size, cache=cache)
        )
        return made

    results: list[Comparison] = []
    sweep_rows: list[dict[str, Any]] = []
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-", dir=cache)))
        moto = stack.enter_context(servers.moto_server(venv_bin, work / "moto.log"))
        endpoint = moto.endpoint
        secantus_uri = None
        if only & {"f", "g", "h"}:
            secantus_uri = stack.enter_context(
                servers.secantus_server(venv_bin, work / "secantus", work / "secantus.log")
            )
        rig = Rig(
            venv_bin=venv_bin, aws=aws, tools=tools, replay=write_replay(work), work=work,
            endpoint=endpoint, bucket="bench-backups", repeat=args.repeat, log=log,
            secantus_uri=secantus_uri, server_cpu=moto.cpu_seconds,
        )  # fmt: skip
        available = commands_available(rig)
        if "d" in only:
            results += timed("(d) cold start", lambda: scenarios.cold_start(rig, repeat=10))
        uploads: dict[str, Comparison] = {}
        if only & {"a", "c"}:
            for label, archive in (
                ("a-small", mixed(small_size)),
                ("a-large", mixed(large_size)),
            ):
                upload = functools.partial(scenarios.upload, rig, archive, compress=False)
                uploads[label] = timed(f"({label})", functools.partial(upload, label=label))
            results += uploads.values()
            tuned = functools.partial(
                scenarios.upload, rig, mixed(large_size), compress=False, tuned=TUNED
            )
            results.append(timed("(a-tuned)", functools.partial(tuned, label="a-tuned")))
        # (a-gz), the upload of a stream mongodump had gzipped, ended when BackupNimbus began
        # compressing by itself: (h-s3) measures that path against mongodump's gzip.
        if "c" in only:
            results.append(scenarios.memory_flatness(uploads["a-small"], uploads["a-large"]))
        if "b" in only:
            local = timed("(b) local store", lambda: scenarios.local_store(rig, mixed(large_size)))
            timed("(b) breakdown", lambda: scenarios.local_breakdown(rig, mixed(large_size), local))
            results.append(local)
            results.append(
                timed(
                    "(b-pipe)",
                    functools.partial(scenarios.local_store, rig, mixed(large_size), pipe_mib=1),
                )
            )
        if "e" in only:
            results.append(
                timed("(e) verify", lambda: scenarios.verify(rig, mixed(large_size)))
                if available["verify"]
                else scenarios.not_run("e", "Verify", "command not available")
            )
        if "g" in only:
            real = archive_gen.ensure_archive(parse_size(args.real_size), cache=cache)
            timed("load SecantusDB", lambda: load_secantus(rig, real))
            results.append(timed("(g) real mongodump", lambda: scenarios.real_mongodump(rig, real)))
        if "f" in only:
            if available["restore"]:
                dry = mixed(large_size) if args.restore_large else mixed(small_size)
                full = archive_gen.ensure_archive(parse_size(args.restore_size), cache=cache)
                results.append(
                    timed(
                        "(f) restore --dry-run", lambda: scenarios.restore(rig, dry, dry_run=True)
                    )
                )
                results.append(
                    timed("(f2) restore", lambda: scenarios.restore(rig, full, dry_run=False))
                )
            else:
                results.append(scenarios.not_run("f", "Restore", "command not available"))
        if "h" in only:
            results += timed("(h) compressed backup", lambda: compressed(rig, args, cache))
        if not args.no_sweep:
            sweep_rows = timed(
                "tuning sweep", lambda: sweep.run(rig, mixed(small_size), repeat=args.repeat)
            )
        versions = machine(rig)
        variables = {
            "$REPLAY": str(rig.replay), "$WORK": str(work), "$BENCH_CACHE": str(cache),
            "$AWS": str(aws), "$TOOLS": str(tools), "$S3_ENDPOINT": endpoint,
            "$SECANTUS": secantus_uri or "-",
            ".venv/bin": str(venv_bin),
        }  # fmt: skip
    for comparison in results:
        comparison.ours_cmd = abbreviate(comparison.ours_cmd, variables)
        comparison.baseline_cmd = abbreviate(comparison.baseline_cmd, variables)

    results.sort(key=lambda c: ORDER.index(c.id) if c.id in ORDER else len(ORDER))
    document: dict[str, Any] = {
        "started_at": started_at,
        "duration_s": time.monotonic() - started,
        "repeat": args.repeat,
        "sizes": {"small": small_size, "large": large_size},
        "machine": versions,
        "variables": {name: value for name, value in variables.items() if name.startswith("$")},
        "scenarios": [
            {**report.comparison_document(c), "run_started_at": started_at} for c in results
        ],
        "sweep": sweep_rows,
        "analysis": _analysis(),
    }
    if args.merge:
        document = merged(Path(args.results), document)
    write_outputs(args, document)
    log(f"wrote {args.results}, {args.doc}, {args.plot} in {document['duration_s'] / 60:.1f} min")
    for c in results:
        log(f"  ({c.id}) {c.status}: {c.ratio_name} {scenarios.median(c.ratios):.2f} "
            f"target met: {c.target_met}")  # fmt: skip
    return 0


def compressed(rig: Rig, args: argparse.Namespace, cache: Path) -> list[Comparison]:
    """Scenario (h): BackupNimbus compressing against mongodump's gzip, on realistic data."""
    size = parse_size(args.compressed_size)
    realistic = timed(
        "generate realistic",
        lambda: archive_gen.ensure_archive(size, cache=cache, kind="realistic"),
    )
    gogzip = timed("build gogzip", lambda: gobaseline.ensure_gogzip(cache))
    if not compression.supported(rig.backupnimbus, rig.ours_env(None, s3=False)):
        reason = "this backupnimbus does not compress by itself (it ignores BACKUP_COMPRESSION)"
        return [scenarios.not_run("h-local", "Compressed backup", reason)]
    rows = []
    for store in ("local", "s3"):
        for setting in ("gzip", "zstd"):
            rows.append(
                timed(
                    f"(h-{store}) {setting}",
                    functools.partial(
                        compression.backup, rig, realistic, gogzip, store=store,
                        compression=setting,
                    ),
                )
            )  # fmt: skip
    for setting in ("gzip", "zstd"):
        rows.extend(
            timed(
                f"(h-restore) {setting}",
                functools.partial(compression.restore, rig, realistic, gogzip, compression=setting),
            )
        )
    real = archive_gen.ensure_archive(
        parse_size(args.h_real_size), cache=cache, kind="realistic", seed=11
    )
    timed("load SecantusDB (realistic)", lambda: load_secantus(rig, real, only_this=True))
    rows.append(timed("(h-real)", lambda: compression.real(rig)))
    return rows


def merged(previous_path: Path, document: dict[str, Any]) -> dict[str, Any]:
    """This run's scenarios in place of the same ones in the recorded results, the others kept
    (each scenario names the run it came from), so a subset can be rerun alone."""
    if not previous_path.is_file():
        return document
    previous = json.loads(previous_path.read_text())
    fresh = {s["id"] for s in document["scenarios"]}
    kept = [
        {**s, "run_started_at": s.get("run_started_at", previous["started_at"])}
        for s in previous["scenarios"]
        if s["id"] not in fresh and not _same_group(s["id"], fresh)
    ]
    scenarios = sorted(
        kept + document["scenarios"],
        key=lambda s: ORDER.index(s["id"]) if s["id"] in ORDER else len(ORDER),
    )
    return {
        **previous,
        "scenarios": scenarios,
        "sweep": document["sweep"] or previous.get("sweep", []),
        "analysis": document["analysis"],
        "machine": document["machine"],
        "variables": {**previous.get("variables", {}), **document["variables"]},
        "merged_at": document["started_at"],
    }


def _same_group(ident: str, fresh: set[str]) -> bool:
    """A not-run placeholder (h-local) stands for its whole group (h-*), and the reverse."""
    group = ident.split("-")[0]
    return any(other.split("-")[0] == group for other in fresh)


def write_outputs(args: argparse.Namespace, document: dict[str, Any]) -> None:
    report.write_results(Path(args.results), document)
    plot = Path(args.plot)
    report.write_plot(plot, document)
    doc = Path(args.doc)
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(markdown(document, doc=doc, plot=plot))


def recorded(results: Path) -> dict[str, Any]:
    """A recorded run, with the hand-written analysis as it is now: what `--render` renders."""
    document: dict[str, Any] = json.loads(results.read_text())
    document["analysis"] = _analysis()
    return document


def markdown(document: dict[str, Any], *, doc: Path, plot: Path) -> str:
    """docs/benchmarks.md's text, the plot named relative to the doc."""
    return report.render_markdown(document, plot_name=os.path.relpath(plot, doc.parent))


def abbreviate(command: str, variables: dict[str, str]) -> str:
    """Long paths as the variables the doc lists, so the commands stay readable."""
    for name, value in sorted(variables.items(), key=lambda item: -len(item[1])):
        if value and value != "-":
            command = command.replace(value, name)
    return command


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--sizes", default="256M,2G", help="small,large archive sizes")
    parser.add_argument("--repeat", type=int, default=3, help="runs per side (at least 3)")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(ALL)}")
    parser.add_argument("--real-size", default="256M", help="data loaded for (g)")
    parser.add_argument("--restore-large", action="store_true", help="(f) on the large archive")
    parser.add_argument("--restore-size", default="64M", help="archive (f2) fully restores")
    parser.add_argument("--compressed-size", default="1G", help="realistic archive for (h)")
    parser.add_argument("--h-real-size", default="64M", help="realistic data loaded for (h-real)")
    parser.add_argument("--no-sweep", action="store_true", help="skip the S3 settings sweep")
    parser.add_argument(
        "--merge", action="store_true",
        help="keep the other scenarios of --results and replace only those run now",
    )  # fmt: skip
    parser.add_argument(
        "--render", action="store_true",
        help="only rewrite the doc and plot from --results (after editing benchmarks/analysis.md)",
    )  # fmt: skip
    parser.add_argument("--cache", help="archive cache (default ~/.cache/backupnimbus/bench)")
    parser.add_argument("--aws", help="the aws executable of the baseline")
    parser.add_argument("--tools", help="directory of mongodump and mongorestore")
    parser.add_argument("--results", default=str(REPO / "benchmarks" / "results.json"))
    parser.add_argument("--doc", default=str(REPO / "docs" / "benchmarks.md"))
    parser.add_argument("--plot", default=str(REPO / "docs" / "benchmarks.png"))
    return parser


def parse_size(text: str) -> int:
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    if text and text[-1] in _UNITS:
        return int(float(text[:-1]) * _UNITS[text[-1]])
    return int(text)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def timed(what: str, fn: Any) -> Any:
    start = time.monotonic()
    log(f"{what} ...")
    result = fn()
    log(f"{what} done in {time.monotonic() - start:.1f} s")
    return result


def mongo_tools() -> Path:
    configured = os.environ.get("MONGO_TOOLS_BIN")
    if configured:
        return Path(configured)
    built = subprocess.run(
        [str(REPO / "scripts" / "build-mongo-tools")], capture_output=True, text=True, check=True
    )
    return Path(built.stdout.strip().splitlines()[-1])


def write_replay(work: Path) -> Path:
    """An executable for MONGODUMP_PATH that runs replay.py (stdlib only, so -I -S starts fast)."""
    wrapper = work / "mongodump-replay"
    script = REPO / "benchmarks" / "replay.py"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -I -S "{script}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def commands_available(rig: Rig) -> dict[str, bool]:
    """verify --file and restore come from other work; a scenario runs only if they exist."""
    found = {}
    for command, flag in (("verify", "--file"), ("restore", "--dry-run")):
        completed = subprocess.run(
            [rig.backupnimbus, command, "--help"], capture_output=True, text=True
        )
        found[command] = completed.returncode == 0 and flag in completed.stdout
    return found


def load_secantus(
    rig: Rig, archive: archive_gen.GeneratedArchive, *, only_this: bool = False
) -> None:
    """Restores `archive` into SecantusDB; with `only_this`, drops every other database first,
    so that a dump of the whole server dumps exactly this data."""
    assert rig.secantus_uri is not None
    if only_this:
        from pymongo import MongoClient

        with MongoClient[dict[str, Any]](rig.secantus_uri) as client:
            for name in client.list_database_names():
                if name not in ("admin", "config", "local"):
                    client.drop_database(name)
    subprocess.run(
        [str(rig.tools / "mongorestore"), f"--uri={rig.secantus_uri}", "--drop",
         f"--archive={archive.path}", "--quiet"],
        check=True, capture_output=True,
    )  # fmt: skip


def machine(rig: Rig) -> dict[str, str]:
    def first_line(argv: list[str]) -> str:
        done = subprocess.run(argv, capture_output=True, text=True)
        return (done.stdout or done.stderr).strip().splitlines()[0]

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    os_name = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    return {
        "CPU": f"{cpu}, {os.cpu_count()} cores (shared with other work on this machine)",
        "memory": f"{int(memory) / 1024 / 1024:.1f} GiB",
        "OS": f"{os_name}, Linux {platform.release()}",
        "Python": platform.python_version(),
        "backupnimbus": version("backupnimbus"),
        "boto3 / botocore (ours)": f"{version('boto3')} / {version('botocore')}",
        "awscli (baseline)": first_line([str(rig.aws), "--version"]),
        "moto (S3 server)": version("moto"),
        "SecantusDB": version("SecantusDB"),
        "mongodump / mongorestore": first_line([str(rig.tools / "mongodump"), "--version"]),
        "sha256sum": first_line(["sha256sum", "--version"]),
        "disk": _disk(rig.work),
    }


def _disk(path: Path) -> str:
    usage = shutil.disk_usage(path)
    done = subprocess.run(["df", "--output=source,fstype", str(path)], capture_output=True,
                          text=True)  # fmt: skip
    source = " ".join(done.stdout.split()[-2:]) if done.returncode == 0 else "?"
    return f"{source}, {usage.free / 1e9:.0f} GB free"


def _analysis() -> str:
    path = REPO / "benchmarks" / "analysis.md"
    return path.read_text() if path.is_file() else ""


if __name__ == "__main__":
    sys.exit(main())
