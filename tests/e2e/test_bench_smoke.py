"""A small run of the benchmark's code paths (`make bench`), so they cannot rot unnoticed.

Nothing here asserts speed: only that the generated archives are real mongodump archives, that
the replay stand-in behaves like mongodump where BackupNimbus looks, and that a scenario and the
report writers produce what docs/benchmarks.md is made from.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from benchmarks import archive_gen, compression, gobaseline, report, run, scenarios
from benchmarks.measure import CommandFailedError, measure, shell
from tests.support.cli import run_cli
from tests.support.servers import Secantus

SIZE = 1536 * 1024


@pytest.fixture
def archive(tmp_path: Path, database: str) -> archive_gen.GeneratedArchive:
    return archive_gen.ensure_archive(SIZE, cache=tmp_path / "cache", database=database)


def make_rig(tmp_path: Path, *, endpoint: str = "-", bucket: str = "-", **extra: Any) -> Any:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return scenarios.Rig(
        venv_bin=extra.pop("venv_bin", Path(sys.executable).parent), aws=Path("/nonexistent/aws"),
        tools=extra.pop("tools", Path("/nonexistent/tools")), replay=run.write_replay(work),
        work=work, endpoint=endpoint, bucket=bucket, repeat=1, log=lambda message: None,
        **extra,
    )  # fmt: skip


def test_generated_archive_restores_with_the_real_mongorestore(
    archive: archive_gen.GeneratedArchive, database: str, secantus: Secantus, mongo_tools: Path
) -> None:
    assert archive.size >= SIZE
    with_data = [ns for ns, count in archive.namespaces.items() if count > 0]
    assert len(with_data) == 3, "a small archive still interleaves three collections"
    assert archive.namespaces[f"{database}.audit"] == 0

    restored = subprocess.run(
        [str(mongo_tools / "mongorestore"), f"--uri={secantus.uri}", f"--archive={archive.path}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert restored.returncode == 0, restored.stderr[-2000:]
    assert f"{sum(archive.namespaces.values())} document(s) restored successfully" in (
        restored.stderr
    )
    with MongoClient[dict[str, Any]](secantus.uri) as client:
        db = client[database]
        for namespace, count in archive.namespaces.items():
            collection = namespace.split(".", 1)[1]
            assert db[collection].count_documents({}) == count, namespace
        assert "n_1" in db["orders"].index_information()
        sample = db["orders"].find_one({"n": 0})
    assert sample is not None
    assert len(sample["blob"]) >= 512


def test_generated_archive_passes_verify_file(
    archive: archive_gen.GeneratedArchive, tmp_path: Path
) -> None:
    completed = run_cli(["verify", "--file", str(archive.path), "--json"], {}, cwd=tmp_path)

    assert completed.returncode == 0, completed.stderr + completed.stdout
    document = json.loads(completed.stdout)
    namespaces = document["namespaces"]
    assert {ns: n["documents"] for ns, n in namespaces.items()} == archive.namespaces
    assert all(n["crc_ok"] for n in namespaces.values())


def test_generation_is_cached_and_deterministic(tmp_path: Path) -> None:
    first = archive_gen.ensure_archive(64 * 1024, cache=tmp_path / "a", seed=3)
    again = archive_gen.ensure_archive(64 * 1024, cache=tmp_path / "a", seed=3)
    elsewhere = archive_gen.ensure_archive(64 * 1024, cache=tmp_path / "b", seed=3)

    assert again.path.stat().st_mtime_ns == first.path.stat().st_mtime_ns
    assert elsewhere.path.read_bytes() == first.path.read_bytes()


def test_replay_streams_the_archive_like_mongodump(
    archive: archive_gen.GeneratedArchive, tmp_path: Path
) -> None:
    replay = run.write_replay(tmp_path)
    env = {"PATH": os.environ["PATH"], "BENCH_REPLAY_ARCHIVE": str(archive.path)}
    args = ["--config=/nonexistent/config.yaml", "--archive", "--db=bench"]

    version = subprocess.run([replay, "--version"], capture_output=True, text=True, env=env)
    plain = subprocess.run([replay, *args], capture_output=True, env=env)
    gzipped_path = archive_gen.ensure_gzipped(archive)
    gzipped = subprocess.run([replay, *args, "--gzip"], capture_output=True, env=env)
    big_pipe = subprocess.run(
        shell(f"{replay} --archive | cat"), capture_output=True,
        env={**env, "BENCH_REPLAY_PIPE_MIB": "1"},
    )  # fmt: skip

    assert version.returncode == 0
    assert version.stdout.splitlines()[0].startswith("mongodump version: ")
    assert plain.returncode == 0
    assert plain.stdout == archive.path.read_bytes()
    for namespace, count in archive.namespaces.items():
        assert f"done dumping {namespace} ({count} documents)" in plain.stderr.decode()
    assert gzipped.returncode == 0
    assert gzipped.stdout == gzipped_path.read_bytes()
    assert gzip.decompress(gzipped.stdout) == plain.stdout
    assert big_pipe.returncode == 0
    assert big_pipe.stdout == plain.stdout
    assert b"pipe size unchanged" not in big_pipe.stderr


def test_replay_fails_without_an_archive(tmp_path: Path) -> None:
    replay = run.write_replay(tmp_path)
    completed = subprocess.run(
        [replay, "--archive"], capture_output=True, text=True, env={"PATH": os.environ["PATH"]}
    )
    assert completed.returncode != 0
    assert "BENCH_REPLAY_ARCHIVE" in completed.stderr


def test_measure_fails_a_pipeline_whose_producer_fails(tmp_path: Path) -> None:
    with pytest.raises(CommandFailedError, match="exited with 3"):
        measure(shell("exit 3 | cat"), env={"PATH": os.environ["PATH"]})
    sample, stdout = measure(
        shell("head -c 3000000 /dev/zero | wc -c"), env={"PATH": os.environ["PATH"]}
    )
    assert stdout.strip() == "3000000"
    assert sample.wall_s > 0
    assert sample.peak_rss_kb > 0


def test_local_store_scenario_and_the_report(
    archive: archive_gen.GeneratedArchive, tmp_path: Path
) -> None:
    rig = make_rig(tmp_path)

    comparison = scenarios.local_store(rig, archive)
    scenarios.local_breakdown(rig, archive, comparison)

    assert len(comparison.ours) == len(comparison.baseline) == 1
    assert len(comparison.ratios) == 1
    assert comparison.ratios[0] > 0
    assert len(comparison.breakdown) == 7
    assert all(step["wall_s"]["median"] > 0 for step in comparison.breakdown)
    document = {
        "started_at": "2025-01-01 00:00 UTC", "duration_s": 1.0, "repeat": 1,
        "sizes": {"small": archive.size, "large": archive.size}, "machine": {"CPU": "test"},
        "variables": {"$WORK": str(rig.work)}, "sweep": [], "analysis": "## Analysis\n",
        "scenarios": [report.comparison_document(comparison),
                      report.comparison_document(scenarios.not_run("e", "Verify", "n/a"))],
    }  # fmt: skip
    results = tmp_path / "out" / "results.json"
    doc = tmp_path / "out" / "benchmarks.md"
    plot = tmp_path / "out" / "benchmarks.png"
    report.write_results(results, document)
    report.write_plot(plot, document)
    report.write_markdown(doc, document, plot_name="benchmarks.png")

    saved = json.loads(results.read_text())
    local = saved["scenarios"][0]
    assert local["id"] == "b"
    assert local["stream_bytes"] == archive.size
    assert local["ours"]["throughput_mb_s"]["median"] > 0
    assert local["ratio"]["values"] == [round(comparison.ratios[0], 4)]
    text = doc.read_text()
    assert "| (b) | Local store" in text
    assert "| (e) | Verify | - | \u2013 | \u2013 | not run: n/a | \u2013 |" in text
    assert "![throughput" in text
    assert "| + fsync (the local store's work) |" in text
    assert plot.read_bytes().startswith(b"\x89PNG")
    stored = list((rig.work / "local-ours").rglob("*.archive"))
    assert stored == [], "the scenario cleans up after each pair"


def test_tuned_run_uploads_through_the_cli_path(
    archive: archive_gen.GeneratedArchive,
    tmp_path: Path,
    moto_endpoint: str,
    bucket: str,
    s3: Any,
) -> None:
    rig = make_rig(tmp_path, endpoint=moto_endpoint, bucket=bucket)
    env = {**rig.ours_env(archive), "PYTHONPATH": str(run.REPO)}

    _, stdout = measure(
        [rig.python, "-m", "benchmarks.tuned_run", "--concurrency", "3", "--part-mib", "5",
         "--no-compress", "--name", "sweep"],
        env=env, cwd=rig.work,
    )  # fmt: skip

    key = json.loads(stdout)["key"]
    stored = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert stored == archive.path.read_bytes()
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=f"{key}.manifest.json")["Body"].read())
    assert manifest["namespaces"] == {ns: n for ns, n in archive.namespaces.items()}


# ----------------------------------------------------------------------------- scenario (h)


@pytest.fixture
def realistic(tmp_path: Path, database: str) -> archive_gen.GeneratedArchive:
    return archive_gen.ensure_archive(
        SIZE, cache=tmp_path / "cache", database=database, kind="realistic"
    )


def test_realistic_archive_restores_with_the_real_mongorestore(
    realistic: archive_gen.GeneratedArchive, database: str, secantus: Secantus, mongo_tools: Path
) -> None:
    mongorestore = str(mongo_tools / "mongorestore")
    dry = subprocess.run(
        [mongorestore, f"--uri={secantus.uri}", f"--archive={realistic.path}", "--dryRun"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    restored = subprocess.run(
        [mongorestore, f"--uri={secantus.uri}", f"--archive={realistic.path}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert dry.returncode == 0, dry.stderr[-2000:]
    assert restored.returncode == 0, restored.stderr[-2000:]
    total = sum(realistic.namespaces.values())
    assert f"{total} document(s) restored successfully" in restored.stderr
    assert realistic.namespaces[f"{database}.audit"] == 0
    with MongoClient[dict[str, Any]](secantus.uri) as client:
        db = client[database]
        for namespace, count in realistic.namespaces.items():
            assert db[namespace.split(".", 1)[1]].count_documents({}) == count, namespace
        order = db["orders"].find_one()
        customer = db["customers"].find_one()
        event = db["events"].find_one()
    assert order is not None
    assert customer is not None
    assert event is not None
    # Shaped like a shop's data: nested documents, arrays, names, e-mail addresses, dates.
    assert {"sku", "name", "quantity", "unitPrice"} <= set(order["items"][0])
    assert order["customer"]["email"].count("@") == 1
    assert " " in order["customer"]["name"]
    assert isinstance(order["createdAt"], dt.datetime)
    assert isinstance(order["totals"]["total"], float)
    assert len(customer["passwordHash"]) == 32
    assert event["sessionId"].subtype == 4  # a UUID
    assert len(event["sessionId"]) == 16


def test_realistic_archive_passes_verify_file(
    realistic: archive_gen.GeneratedArchive, tmp_path: Path
) -> None:
    completed = run_cli(["verify", "--file", str(realistic.path), "--json"], {}, cwd=tmp_path)

    assert completed.returncode == 0, completed.stderr + completed.stdout
    namespaces = json.loads(completed.stdout)["namespaces"]
    assert {ns: n["documents"] for ns, n in namespaces.items()} == realistic.namespaces
    assert all(n["crc_ok"] for n in namespaces.values())


def test_realistic_archive_compresses_like_real_data_and_is_cached(tmp_path: Path) -> None:
    first = archive_gen.ensure_archive(4 * 1024 * 1024, cache=tmp_path / "a", kind="realistic")
    again = archive_gen.ensure_archive(4 * 1024 * 1024, cache=tmp_path / "a", kind="realistic")
    elsewhere = archive_gen.ensure_archive(4 * 1024 * 1024, cache=tmp_path / "b", kind="realistic")
    data = first.path.read_bytes()

    assert again.path.stat().st_mtime_ns == first.path.stat().st_mtime_ns
    assert elsewhere.path.read_bytes() == data
    assert first.path.name != archive_gen.ensure_archive(64 * 1024, cache=tmp_path / "a").path.name
    # Mostly structure and vocabulary, not random bytes; nor trivially repetitive either.
    ratio = len(data) / len(gzip.compress(data, compresslevel=6))
    assert 3.0 < ratio < 8.0, ratio


def test_gogzip_is_built_once_and_writes_standard_gzip(
    archive: archive_gen.GeneratedArchive, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    built = gobaseline.ensure_gogzip(cache)
    again = gobaseline.ensure_gogzip(cache)
    completed = subprocess.run(
        [built], stdin=archive.path.open("rb"), capture_output=True, timeout=120
    )

    assert again == built
    assert again.stat().st_mtime_ns == built.stat().st_mtime_ns
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout[:2] == b"\x1f\x8b"
    assert gzip.decompress(completed.stdout) == archive.path.read_bytes()
    assert len(completed.stdout) < archive.size


def test_replay_refuses_gzip_for_the_compressed_scenario(
    archive: archive_gen.GeneratedArchive, tmp_path: Path
) -> None:
    replay = run.write_replay(tmp_path)
    env = {"PATH": os.environ["PATH"], "BENCH_REPLAY_ARCHIVE": str(archive.path),
           "BENCH_REPLAY_REFUSE_GZIP": "1"}  # fmt: skip
    refused = subprocess.run([replay, "--archive", "--gzip"], capture_output=True, env=env)
    plain = subprocess.run([replay, "--archive"], capture_output=True, env=env)

    assert refused.returncode != 0
    assert b"--gzip refused" in refused.stderr
    assert refused.stdout == b""
    assert plain.returncode == 0
    assert plain.stdout == archive.path.read_bytes()


_STAND_IN = """#!{python}
# Stands in for `backupnimbus run --json`: the dump without --gzip, gzipped, into the local store.
import gzip, json, os, subprocess, sys
name = sys.argv[sys.argv.index("--name") + 1]
key = f"backups/{{name}}/stand-in.archive.gz"
target = os.path.join(os.environ["LOCAL_BACKUP_DIR"], key)
os.makedirs(os.path.dirname(target))
dump = subprocess.run([os.environ["MONGODUMP_PATH"], "--archive"], capture_output=True, check=True)
with open(target, "wb") as out:
    out.write(gzip.compress(dump.stdout, compresslevel=1))
print(json.dumps({{"key": key}}))
"""


def test_compressed_scenario_plumbing_with_a_stand_in(
    realistic: archive_gen.GeneratedArchive, tmp_path: Path
) -> None:
    """The scenario's own work (baseline, stored sizes, keys, report) on a stand-in for ours."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stand_in = bin_dir / "backupnimbus"
    stand_in.write_text(_STAND_IN.format(python=sys.executable))
    stand_in.chmod(0o755)
    rig = make_rig(tmp_path, venv_bin=bin_dir)
    gogzip = gobaseline.ensure_gogzip(tmp_path / "cache")

    comparison = compression.backup(rig, realistic, gogzip, store="local")

    assert comparison.id == "h-local"
    assert len(comparison.ours) == len(comparison.baseline) == 1
    assert comparison.stored["baseline"][0] == len(
        subprocess.run([gogzip], stdin=realistic.path.open("rb"), capture_output=True).stdout
    )
    assert 0 < comparison.stored["ours"][0] < realistic.size
    assert comparison.extra_ratios["stored size ours/baseline"][0] > 0
    assert not list((rig.work / "local-ours").rglob("*.gz")), "cleaned after each pair"
    document = report.comparison_document(comparison)
    assert document["ours"]["cpu_s_per_gb"]["median"] > 0
    assert document["stored_bytes"]["baseline"]["median"] == comparison.stored["baseline"][0]
    row = report.render_markdown(
        {"started_at": "-", "duration_s": 1.0, "repeat": 1, "machine": {}, "variables": {},
         "scenarios": [document]},
        plot_name=None,
    )  # fmt: skip
    assert "Capacity of a 15-minute Lambda" in row
    assert "| (h-local) Compressed backup to the local store" in row


def test_compressed_backup_scenario_runs_tiny(
    realistic: archive_gen.GeneratedArchive, tmp_path: Path, secantus: Secantus, mongo_tools: Path
) -> None:
    """Scenario (h) end to end, tiny: it runs; nothing about speed or size is asserted."""
    rig = make_rig(tmp_path, tools=mongo_tools, secantus_uri=secantus.uri)
    gogzip = gobaseline.ensure_gogzip(tmp_path / "cache")

    rows = [
        compression.backup(rig, realistic, gogzip, store="local"),
        compression.backup(rig, realistic, gogzip, store="local", compression="zstd"),
        *compression.restore(rig, realistic, gogzip),
    ]

    assert [row.id for row in rows] == ["h-local", "h-local-zstd", "h-restore", "h-restore-whole"]
    assert all(len(row.ours) == len(row.baseline) == 1 for row in rows)
    assert all(row.ratios[0] > 0 for row in rows)


def test_merge_replaces_only_the_scenarios_run_again(tmp_path: Path) -> None:
    def scenario(ident: str, status: str = "ok") -> dict[str, Any]:
        return {"id": ident, "status": status}

    previous = tmp_path / "results.json"
    previous.write_text(json.dumps({
        "started_at": "earlier", "sweep": [{"concurrency": 2}], "variables": {"$A": "a"},
        "scenarios": [scenario("a-small"), scenario("b"), scenario("h-local", "not run: old")],
    }))  # fmt: skip
    fresh = {
        "started_at": "now", "sweep": [], "analysis": "", "machine": {}, "variables": {"$B": "b"},
        "scenarios": [{**scenario("h-s3"), "run_started_at": "now"},
                      {**scenario("h-local"), "run_started_at": "now"}],
    }  # fmt: skip

    document = run.merged(previous, fresh)

    assert [s["id"] for s in document["scenarios"]] == ["a-small", "b", "h-local", "h-s3"]
    assert document["scenarios"][0]["run_started_at"] == "earlier"
    assert document["scenarios"][2] == {**scenario("h-local"), "run_started_at": "now"}
    assert document["sweep"] == [{"concurrency": 2}]
    assert document["variables"] == {"$A": "a", "$B": "b"}
    assert document["merged_at"] == "now"
