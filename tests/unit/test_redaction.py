"""The Redactor against the shapes secrets take on their way out, and every output path that
must pass through it: logs, error documents (CLI and Lambda), e-mails, manifests and the
mongodump/mongorestore stderr tails."""

from __future__ import annotations

import io
import json
import logging
import stat
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import tenacity

from backupnimbus.adapters.env_secrets import Base64EnvSecrets
from backupnimbus.adapters.memory import RecordingMailer
from backupnimbus.adapters.mongodump import MongodumpRunner
from backupnimbus.adapters.mongorestore import MongorestoreRestorer
from backupnimbus.adapters.retrying import RetryPolicy
from backupnimbus.domain.notify_outcome import NotifyOutcome
from backupnimbus.entrypoints import cli
from backupnimbus.entrypoints.config import load_config
from backupnimbus.entrypoints.container import bootstrap
from backupnimbus.entrypoints.lambda_handler import InvocationFailedError, make_handler
from backupnimbus.entrypoints.logging import configure_logging
from backupnimbus.errors import BackupNimbusError, DumpFailedError, RestoreFailedError
from backupnimbus.ports.archive_restorer import RestoreOptions
from backupnimbus.redaction import MASK, Redactor
from backupnimbus.stop_signal import StopSignal
from tests.support.cli import b64

# A password with everything that breaks naive parsing: '@' and ':' (userinfo), '"' and '\'
# (JSON), '&' and '<' (HTML), '/' and '%' (URI escaping).
PASSWORD = 'p@ss:w/o"r\\d&<%x'
ENCODED = "p%40ss%3Aw%2Fo%22r%5Cd%26%3C%25x"
URI = f"mongodb://backup:{ENCODED}@db1.example.com:27017,db2.example.com:27017/app?authSource=admin"


def _shapes(secret: str) -> list[str]:
    """What a leak could look like: raw, and JSON-escaped once and twice."""
    once = json.dumps(secret)[1:-1]
    return [secret, once, json.dumps(once)[1:-1]]


CASES = [
    pytest.param(
        ("Sup3r-Secret",), "token Sup3r-Secret here", ["Sup3r-Secret"], "token *** here",
        id="a configured value",
    ),
    pytest.param(
        (), "connecting to mongodb://admin:p@ss:w0rd@db1.example.com:27017/app",
        ["p@ss", "ss:w0rd"], "connecting to mongodb://admin:***@db1.example.com:27017/app",
        id="unconfigured URI whose password holds '@' and ':'",
    ),
    pytest.param(
        ("mongodb://admin:p@ss:w0rd@db1/app",), "auth failed for user admin with p@ss:w0rd",
        ["p@ss:w0rd"], "auth failed for user admin with ***",
        id="the password of a configured URI, alone",
    ),
    pytest.param(
        (), "mongodb+srv://svc:Xy9-Zw@cluster0.ab1cd.mongodb.net/?retryWrites=true&w=majority",
        ["Xy9-Zw"], "mongodb+srv://svc:***@cluster0.ab1cd.mongodb.net/?retryWrites=true&w=majority",
        id="mongodb+srv",
    ),
    pytest.param(
        (), "mongodb://u:pw123@h1:1,h2:2,h3:3/db?replicaSet=rs", ["pw123"],
        "mongodb://u:***@h1:1,h2:2,h3:3/db?replicaSet=rs", id="a replica set's host list",
    ),
    pytest.param(
        (), "mongodb://me@corp.example:pw123@h1/", ["pw123"], "mongodb://me@corp.example:***@h1/",
        id="a user name holding '@'",
    ),
    pytest.param(
        (URI,), f"driver said: bad auth for {PASSWORD}", _shapes(PASSWORD),
        "driver said: bad auth for ***", id="a %-encoded password seen decoded",
    ),
    pytest.param(
        (URI,), f"retrying {ENCODED}", [ENCODED], "retrying ***",
        id="a %-encoded password seen as written",
    ),
    pytest.param(
        ("s3cret pass/word",), "mongodb://u:s3cret%20pass%2Fword@h/", ["s3cret%20pass%2Fword"],
        "mongodb://u:***@h/", id="a plain secret seen %-encoded",
    ),
    pytest.param(
        (URI,), json.dumps({"stderr_tail": [f"auth failed: {PASSWORD}"]}), _shapes(PASSWORD),
        '{"stderr_tail": ["auth failed: ***"]}', id="JSON-escaped",
    ),
    pytest.param(
        (URI,), json.dumps({"errorMessage": json.dumps({"d": PASSWORD})}), _shapes(PASSWORD),
        json.dumps({"errorMessage": json.dumps({"d": MASK})}), id="JSON-escaped twice",
    ),
    pytest.param(
        ("pässwörd-ü",), json.dumps({"pw": "pässwörd-ü"}), ["pässwörd-ü", "p\\u00e4ssw"],
        '{"pw": "***"}', id="non-ASCII, escaped as \\u",
    ),
    pytest.param(
        (), json.dumps({"m": 'mongodb://u:q"uote@h/x', "to": "ops@example.com"}), ['q\\"uote'],
        '{"m": "mongodb://u:***@h/x", "to": "ops@example.com"}',
        id="unconfigured URI inside JSON, password with a quote",
    ),
    pytest.param(
        (), "<code>mongodb://u:pw123@h</code>", ["pw123"], "<code>mongodb://u:***@h</code>",
        id="inside HTML",
    ),
    pytest.param(
        (), "mongodb://h1:27017,h2:27017/db ops@example.com mongodb://user@host/db s3://b/k@v",
        [], "mongodb://h1:27017,h2:27017/db ops@example.com mongodb://user@host/db s3://b/k@v",
        id="nothing to mask",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("secrets", "text", "gone", "expected"), CASES)
def test_redact(secrets: tuple[str, ...], text: str, gone: list[str], expected: str) -> None:
    redacted = Redactor(secrets).redact(text)

    for leak in gone:
        assert leak not in redacted
    assert redacted == expected


def test_documents_are_redacted_to_the_leaves_keys_included() -> None:
    redactor = Redactor(("Sup3r-Secret",))
    document = {"a": ["x Sup3r-Secret", {"Sup3r-Secret": 3}], "n": 1, "ok": True, "none": None}

    assert redactor.redact_document(document) == {
        "a": ["x ***", {"***": 3}], "n": 1, "ok": True, "none": None
    }  # fmt: skip


def test_with_secrets_keeps_the_old_ones_and_the_repr_shows_none() -> None:
    redactor = Redactor(("first-secret",)).with_secrets(["second-secret"])

    assert redactor.redact("first-secret second-secret") == "*** ***"
    assert "secret" not in repr(redactor)


# --- every output path -------------------------------------------------------------------------


@pytest.fixture
def root_logging() -> Iterator[None]:
    """configure_logging replaces the root handlers; put the test runner's back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("root_logging")
def test_logs_mask_secrets_in_messages_arguments_extras_and_tracebacks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(level="DEBUG", redactor=Redactor((URI,)))
    log = logging.getLogger("backupnimbus.test")

    log.info("connecting to %s", URI, extra={"details": {"said": [PASSWORD]}})
    try:
        raise RuntimeError(f"driver failed with {PASSWORD}")
    except RuntimeError:
        log.exception("failed")

    err = capsys.readouterr().err
    assert "Traceback" in err  # DEBUG shows it: the traceback itself went through redaction
    assert '"message": "connecting to ***"' in err
    for leak in [*_shapes(PASSWORD), ENCODED]:
        assert leak not in err


def test_the_cli_error_document_is_redacted_as_a_last_line_of_defence(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # As if an adapter had forgotten to redact what it put into an error.
    error = BackupNimbusError(
        f"mongodump failed on {URI}", details={"stderr_tail": [f"bad password {PASSWORD}"]}
    )

    code = cli.fail(error, as_json=True, redactor=Redactor((URI,)))

    out = capsys.readouterr().out
    assert code == 1
    document = json.loads(out)
    assert document["error"]["details"]["stderr_tail"] == ["bad password ***"]
    for leak in [*_shapes(PASSWORD), ENCODED]:
        assert leak not in out


class _CarelessDumpRunner:
    """A DumpRunner with a bug: it puts the URI and the password into its error unredacted."""

    def describe_tool(self) -> str:
        return "100.0.0"

    def open_dump(self, *, stop: Any = None) -> Any:
        raise DumpFailedError(f"cannot reach {URI}", details={"said": [PASSWORD]})


class _BrokenStore:
    """An ObjectStore with a bug: an unexpected exception whose text holds the password."""

    def list_objects(self, *, prefix: str) -> Any:
        raise RuntimeError(f"bug while talking to {URI} with {PASSWORD}")


@pytest.mark.usefixtures("root_logging")
@pytest.mark.parametrize(
    ("event", "override", "code"),
    [
        ({"name": "nightly"}, {"dump_runner": _CarelessDumpRunner()}, "DUMP_ERROR"),
        ({"action": "verify"}, {"store": _BrokenStore()}, "BACKUP_ERROR"),
    ],
    ids=["known error", "unexpected exception"],
)
def test_the_lambda_error_document_is_redacted(
    tmp_path: Path, event: dict[str, Any], override: dict[str, Any], code: str
) -> None:
    environ = {"MONGO_URI": b64(URI), "STORAGE_BACKEND": "local", "LOCAL_BACKUP_DIR": str(tmp_path),
               "LOG_LEVEL": "ERROR"}  # fmt: skip
    handler = make_handler(environ, bootstrap=partial(bootstrap, **override))

    with pytest.raises(InvocationFailedError) as caught:
        handler(event, None)

    message = str(caught.value)
    assert json.loads(message)["error"]["code"] == code
    for leak in [*_shapes(PASSWORD), ENCODED, URI]:
        assert leak not in message


def test_failure_mails_mask_the_password_in_json_details_and_html() -> None:
    mailer = RecordingMailer(recipients=("ops@example.com",))
    error = DumpFailedError(
        "mongodump failed with exit code 1",
        details={"stderr_tail": [f"auth failed for {PASSWORD}"], "uri": URI},
    )

    NotifyOutcome(mailer=mailer, redactor=Redactor((URI,))).notify(name="nightly", error=error)

    [mail] = mailer.sent
    everything = mail.subject + mail.text + (mail.html or "")
    assert "auth failed for ***" in mail.text
    for leak in [*_shapes(PASSWORD), ENCODED, "p@ss:w/o&quot;r", "&amp;&lt;%x"]:
        assert leak not in everything


def test_the_manifest_source_names_hosts_and_database_only() -> None:
    uri = "mongodb://admin:p@ss:w0rd@db1.example.com:27017,db2.example.com/app?tls=true"
    environ = {"MONGO_URI": b64(uri)}
    config = load_config(environ, secrets=Base64EnvSecrets(environ))

    source = config.source_info()

    assert source.hosts == ("db1.example.com:27017", "db2.example.com")
    assert source.database == "app"
    assert "p@ss" not in repr(source)


# The worst a tool could do with what it is given: print its --config file, URI and all.
ECHO_CONFIG = 'for a in "$@"; do case "$a" in --config=*) cat "${a#--config=}" >&2;; esac; done\n'


def _tool(tmp_path: Path, name: str, body: str) -> Path:
    script = tmp_path / name
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_the_mongodump_stderr_tail_is_redacted(tmp_path: Path) -> None:
    # Prints what a tool could print about its connection, then fails before any output.
    tool = _tool(tmp_path, "mongodump", f"echo 'auth failed: {PASSWORD}' >&2\n"
                 f"{ECHO_CONFIG}"
                 "exit 1\n")  # fmt: skip
    runner = MongodumpRunner(
        executable=str(tool), uri=URI, redactor=Redactor(),
        retry=RetryPolicy(attempts=1, wait=tenacity.wait_none()),
    )  # fmt: skip

    with (
        pytest.raises(DumpFailedError) as caught,
        runner.open_dump(stop=StopSignal()),
    ):
        pass

    tail = caught.value.details["stderr_tail"]
    assert tail == ["auth failed: ***", 'uri: "***"']
    shown = json.dumps(caught.value.to_document())
    for leak in [*_shapes(PASSWORD), ENCODED]:
        assert leak not in shown


def test_the_mongorestore_stderr_tail_is_redacted(tmp_path: Path) -> None:
    tool = _tool(tmp_path, "mongorestore", "cat >/dev/null\n"
                 f"echo 'auth failed: {PASSWORD}' >&2\n"
                 f"{ECHO_CONFIG}"
                 "exit 1\n")  # fmt: skip
    restorer = MongorestoreRestorer(executable=str(tool), uri=URI, redactor=Redactor())

    with pytest.raises(RestoreFailedError) as caught:
        restorer.restore(stream=io.BytesIO(b"archive"), compressed=False, options=RestoreOptions())

    assert "auth failed: ***" in caught.value.details["stderr_tail"]
    shown = json.dumps(caught.value.to_document())
    for leak in [*_shapes(PASSWORD), ENCODED]:
        assert leak not in shown


@pytest.mark.parametrize(
    "echoed",
    ["%5c%c3%bc", "%5C%C3%BC", "%5c%C3%Bc", "%5C%c3%bC"],
    ids=["lower", "upper", "mix1", "mix2"],
)
def test_a_percent_encoded_password_is_masked_whatever_the_case_of_its_escapes(
    echoed: str,
) -> None:
    # The URI carries upper-case escapes; a tool or a driver may echo them in lower case.
    redactor = Redactor(("mongodb://backup:p%5C%C3%BCss9@db1.example.com/app",))

    shown = redactor.redact(f"login failed for backup with p{echoed}ss9 (no URI around it)")

    assert shown == "login failed for backup with *** (no URI around it)"
