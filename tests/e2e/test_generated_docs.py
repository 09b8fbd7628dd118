"""The generated docs are checked by the suite, never rewritten by it.

docs/benchmarks.md must be exactly what benchmarks/results.json and the hand-written
benchmarks/analysis.md render to (`make bench-docs`). docs/reliability.md's fault matrix is
checked at the end of a session that ran every fault test (tests/support/fault_matrix.py); here
that check runs in a child pytest on a two-row matrix, to prove that a stale document fails the
run, that a partial run checks nothing, and that only `--write-fault-matrix` writes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from benchmarks import run
from tests.support.fault_matrix import BEGIN, END, FaultMatrix, Row

REPO = Path(__file__).resolve().parents[2]
BENCH_DOC = REPO / "docs" / "benchmarks.md"
HOME_PATH = re.compile(r"(?<![\w~.])/(?:root|home/[^/\s`]+|Users/[^/\s`]+)(?=/|\b)")


# docs/benchmarks.md


def test_benchmarks_doc_is_what_the_recorded_run_renders_to() -> None:
    document = run.recorded(REPO / "benchmarks" / "results.json")
    rendered = run.markdown(document, doc=BENCH_DOC, plot=REPO / "docs" / "benchmarks.png")

    committed = BENCH_DOC.read_text()
    assert committed == rendered, (
        "docs/benchmarks.md is not what benchmarks/results.json and benchmarks/analysis.md "
        "render to: edit analysis.md, never the doc, and run `make bench-docs`"
    )


def test_benchmarks_doc_names_only_images_that_exist() -> None:
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", BENCH_DOC.read_text())

    assert images, "the doc shows its plot"
    for image in images:
        assert (BENCH_DOC.parent / image).is_file(), image


@pytest.mark.parametrize("doc", ["benchmarks.md", "reliability.md"])
def test_generated_docs_hold_no_home_directory(doc: str) -> None:
    text = (REPO / "docs" / doc).read_text()

    assert HOME_PATH.findall(text) == []


def test_the_home_directory_pattern_finds_home_directories() -> None:
    text = "in /root/.cache/x, /home/ci/work and `/Users/me/x`; not ~/.cache nor /rooted"

    assert HOME_PATH.findall(text) == ["/root", "/home/ci", "/Users/me"]


# docs/reliability.md's fault matrix, through a child pytest session


CONFTEST = """
from pathlib import Path

import pytest

from tests.support import fault_matrix

MATRIX = fault_matrix.FaultMatrix(order=("one", "two"), doc=Path(__file__).parent / "doc.md")


def pytest_addoption(parser):
    fault_matrix.add_option(parser)


def pytest_configure(config):
    config.pluginmanager.register(fault_matrix.FaultMatrixPlugin(MATRIX))


@pytest.fixture
def matrix():
    return MATRIX
"""

TESTS = """
import os

from tests.support.fault_matrix import Row


def test_one(matrix):
    matrix.record("one", Row("first fault", 1, "survives", os.environ["OBSERVED"], survived=1))
    assert os.environ.get("FAIL") != "1"


def test_two(matrix):
    matrix.record("two", Row("second fault", 2, "fails cleanly", "failed", failed_cleanly=1))
"""


def doc_text(observed: str) -> str:
    matrix = FaultMatrix(order=("one", "two"))
    matrix.record("one", Row("first fault", 1, "survives", observed, survived=1))
    matrix.record("two", Row("second fault", 2, "fails cleanly", "failed", failed_cleanly=1))
    return f"# Reliability\n\nProse.\n\n{BEGIN}\n{matrix.render()}\n{END}\n\nMore prose.\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (tmp_path / "test_rows.py").write_text(textwrap.dedent(TESTS))
    return tmp_path


def session(
    project: Path, *args: str, observed: str = "exit 0", fail: bool = False
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "OBSERVED": observed,
        "FAIL": "1" if fail else "0",
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_session_that_observes_the_committed_matrix_passes(project: Path) -> None:
    (project / "doc.md").write_text(doc_text("exit 0"))

    done = session(project)

    assert done.returncode == 0, done.stdout
    assert "doc.md matches what this session observed" in done.stdout
    assert (project / "doc.md").read_text() == doc_text("exit 0")


def test_a_stale_committed_matrix_fails_the_session_and_is_left_as_it_is(project: Path) -> None:
    (project / "doc.md").write_text(doc_text("exit 0"))

    done = session(project, observed="exit 0; 2 retries logged")

    assert done.returncode == 1, done.stdout
    assert "2 passed" in done.stdout, "every test passed: the stale document alone fails the run"
    assert "doc.md is stale" in done.stdout
    assert "(row 1 (one), totals)" not in done.stdout, "the totals did not change"
    assert "(row 1 (one)); run `make reliability` to regenerate it" in done.stdout
    assert "-| 1 | first fault | 1 | survives | exit 0 |" in done.stdout
    assert "+| 1 | first fault | 1 | survives | exit 0; 2 retries logged |" in done.stdout
    assert (project / "doc.md").read_text() == doc_text("exit 0")


def test_a_partial_session_checks_nothing(project: Path) -> None:
    (project / "doc.md").write_text(doc_text("exit 0"))

    done = session(project, "-k", "test_one", observed="something else")

    assert done.returncode == 0, done.stdout
    assert "fault matrix" not in done.stdout
    assert (project / "doc.md").read_text() == doc_text("exit 0")


def test_write_option_rewrites_the_block_and_keeps_the_prose(project: Path) -> None:
    (project / "doc.md").write_text(doc_text("exit 0"))

    written = session(project, "--write-fault-matrix", observed="exit 0; 2 retries logged")
    checked = session(project, observed="exit 0; 2 retries logged")

    assert written.returncode == 0, written.stdout
    assert "doc.md written" in written.stdout
    assert (project / "doc.md").read_text() == doc_text("exit 0; 2 retries logged")
    assert checked.returncode == 0, checked.stdout


def test_write_option_in_a_partial_session_writes_nothing_and_fails(project: Path) -> None:
    (project / "doc.md").write_text(doc_text("exit 0"))

    done = session(project, "--write-fault-matrix", "-k", "test_one", observed="exit 0; new")

    assert done.returncode == 1, done.stdout
    assert "doc.md not written: no row recorded for two" in done.stdout
    assert (project / "doc.md").read_text() == doc_text("exit 0")


def test_write_option_writes_nothing_when_a_test_failed(project: Path) -> None:
    (project / "doc.md").write_text(doc_text("exit 0"))

    done = session(project, "--write-fault-matrix", observed="exit 0; wrong", fail=True)

    assert done.returncode == 1, done.stdout
    assert "doc.md not written: not every test of the session passed" in done.stdout
    assert (project / "doc.md").read_text() == doc_text("exit 0")


def test_a_document_without_its_markers_is_an_error_not_a_pass(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("# Reliability\n\nNo table here.\n")
    matrix = FaultMatrix(order=("one",), doc=doc)
    matrix.record("one", Row("first fault", 1, "survives", "exit 0", survived=1))

    with pytest.raises(AssertionError, match="lost its fault-matrix markers"):
        matrix.stale()
    with pytest.raises(AssertionError, match="lost its fault-matrix markers"):
        matrix.write()
    assert doc.read_text() == "# Reliability\n\nNo table here.\n"
