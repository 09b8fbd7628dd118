"""A mongodump that dies mid-stream, and a wait for the first uploaded part: shared by the
failure, fault and deadline tests."""

from __future__ import annotations

import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

MiB = 1024 * 1024
# Past the first 8 MiB part, so a part is already uploaded when the dump dies.
CUT_AT = 9 * MiB


def cut_mongodump(tmp_path: Path, mongo_tools: Path, ending: str) -> str:
    """A MONGODUMP_PATH that streams the real dump's first CUT_AT bytes, then `ending`."""
    real = mongo_tools / "mongodump"
    path = tmp_path / "mongodump"
    path.write_text(
        "#!/bin/sh\n"
        f'case "$1" in --version) exec "{real}" "$@";; esac\n'
        f'"{real}" "$@" | head -c {CUT_AT}\n'
        f"{ending}\n"
    )
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def wait_for_an_uploaded_part(s3: Any, bucket: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        for upload in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            parts = s3.list_parts(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
            if parts.get("Parts"):
                return
        time.sleep(0.2)
    pytest.fail("the backup never uploaded its first part")
