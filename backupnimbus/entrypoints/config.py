"""Configuration: read from a mapping, converted variable by variable through the shared
converter (backupnimbus.conversion), then checked as a whole; every problem reported at once."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import attrs

from backupnimbus.conversion import (
    ConversionProblem,
    Count,
    Flag,
    OneOf,
    Reveal,
    Seconds,
    Secret,
    SecretWords,
    Text,
    Words,
    make_converter,
    named,
    register_environment,
    secret,
    structure_or_problems,
)
from backupnimbus.domain.compression_choice import choose_compression
from backupnimbus.domain.models import SourceInfo
from backupnimbus.domain.retention import RULES, RetentionPolicy
from backupnimbus.errors import ConfigInvalidError
from backupnimbus.ports.compressor import DEFAULT_LEVELS, GZIP, ZSTD, Compression
from backupnimbus.ports.mailer import EMAIL_ADDRESS
from backupnimbus.ports.secret_source import SecretSource

LOG_LEVELS = {"DEBUG": "DEBUG", "INFO": "INFO", "WARN": "WARNING", "WARNING": "WARNING",
              "ERROR": "ERROR"}  # fmt: skip
APP_ENVS = ("development", "production", "test")
LOG_FORMATS = ("json", "text")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# age's X25519 keys: Bech32, whose alphabet has no 1, b, i or o; the checksum is pyrage's to check.
_AGE_RECIPIENT = re.compile(r"^age1[02-9ac-hj-np-z]{58}$")
_AGE_IDENTITY = re.compile(r"^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}$")
_AGE_SECRET_PREFIX = "AGE-SECRET-KEY-"  # noqa: S105 - what a secret key starts with, to refuse it
SSE_ALGORITHMS = {"aes256": "AES256", "aws:kms": "aws:kms"}


@attrs.frozen
class NotificationConfig:
    enabled: bool = False
    sender: str | None = None
    recipients: tuple[str, ...] = ()
    on_success: bool = True
    """NOTIFY_ON_SUCCESS: mail when a backup succeeded."""
    on_failure: bool = True
    """NOTIFY_ON_FAILURE: mail when a backup failed."""


@attrs.frozen
class Config:
    mongo_uri: str | None = attrs.field(default=None, repr=False)
    bucket: str | None = None
    """AWS_S3_BUCKET_NAME; the local store (STORAGE_BACKEND=local) needs none."""
    aws_access_key_id: str | None = attrs.field(default=None, repr=False)
    aws_secret_access_key: str | None = attrs.field(default=None, repr=False)
    aws_session_token: str | None = attrs.field(default=None, repr=False)
    aws_region: str | None = None
    app_env: str = "production"
    log_level: str = "INFO"
    log_format: str | None = None
    """LOG_FORMAT: "json" or "text"; None picks text on a terminal, JSON elsewhere."""
    notifications: NotificationConfig = NotificationConfig()
    backup_name: str = "mongodb"
    backup_prefix: str = "backups/"
    backup_compression: Compression = attrs.field(
        factory=lambda: Compression(GZIP, DEFAULT_LEVELS[GZIP])
    )
    """BACKUP_COMPRESSION (+ _LEVEL), or BACKUP_COMPRESS=false for none."""
    allow_empty_backup: bool = False
    """Store a dump that holds no collection instead of failing with EMPTY_BACKUP."""
    mongodump_path: str = "mongodump"
    mongorestore_path: str = "mongorestore"
    """MONGORESTORE_PATH; by default the sibling of MONGODUMP_PATH when that is a path."""
    restore_target_uri: str | None = attrs.field(default=None, repr=False)
    """RESTORE_TARGET_URI (b64): where `restore` writes, unless --target-uri is given."""
    mongo_connect_timeout_s: float = 30.0
    """MONGO_CONNECT_TIMEOUT_S: how long all of mongodump's tries to connect may take together."""
    drill_target_uri: str | None = attrs.field(default=None, repr=False)
    """DRILL_TARGET_URI (b64): where restore drills restore; default RESTORE_TARGET_URI."""
    drill_allow_source: bool = False
    """DRILL_ALLOW_SOURCE: a drill may restore into the backup's own source deployment."""
    ns_include: tuple[str, ...] = ()
    ns_exclude: tuple[str, ...] = ()
    mongodump_oplog: str = "auto"
    """MONGODUMP_OPLOG: "auto" (--oplog for a whole replica set), "true" or "false"."""
    local_backup_dir: str = "./backups"
    in_lambda: bool = False
    storage_backend: str | None = None
    """STORAGE_BACKEND: a built-in ("s3", "local") or plugin store; "s3" when only a bucket is
    set; None when neither is, which load_config refuses when the work needs a store."""
    dump_backend: str | None = None
    """DUMP_BACKEND: "mongodump" (None: the default) or a plugin's database source, which reads
    its own variables and needs no MONGO_URI."""
    mailer_backend: str | None = None
    """MAILER_BACKEND: a built-in ("ses", "log") or plugin mailer; default by notifications."""
    retention: RetentionPolicy = attrs.field(factory=RetentionPolicy)
    """From RETENTION_KEEP_*; empty (all 0) unless set, and `prune` refuses an empty policy."""
    aws_endpoints: dict[str, str] = attrs.field(factory=dict)
    """AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> overrides (e.g. for a local S3)."""
    age_recipients: tuple[str, ...] = ()
    """AGE_RECIPIENTS: the age public keys backups are encrypted to; empty: not encrypted."""
    age_identities: tuple[str, ...] = attrs.field(default=(), repr=False)
    """From AGE_IDENTITY_FILE or AGE_IDENTITY: the age secret keys verify and restore decrypt
    with."""
    s3_sse: str | None = None
    """S3_SSE: "AES256" or "aws:kms", asked for on every upload to S3."""
    s3_kms_key_id: str | None = None
    """S3_KMS_KEY_ID: the KMS key of S3_SSE=aws:kms; None: the account's default S3 key."""
    object_lock_mode: str | None = None
    """S3_OBJECT_LOCK_MODE: GOVERNANCE or COMPLIANCE; None (off): backups are not locked."""
    object_lock_days: int = 0
    """S3_OBJECT_LOCK_DAYS: every backup is locked at least this long."""
    object_lock_max_days: int = 0
    """S3_OBJECT_LOCK_MAX_DAYS: prune never extends a lock past this many days after the
    backup finished; S3_OBJECT_LOCK_DAYS unless set (no extension)."""

    def endpoint_for(self, service: str) -> str | None:
        return self.aws_endpoints.get(service.upper()) or self.aws_endpoints.get("")

    def secret_values(self) -> tuple[str, ...]:
        """Every value that must never be printed, for the redactor."""
        values = [self.aws_access_key_id, self.aws_secret_access_key, self.aws_session_token]
        if self.mongo_uri:
            values.append(self.mongo_uri)
            values.append(_uri_password(self.mongo_uri))
        for uri in (self.restore_target_uri, self.drill_target_uri):
            if uri:
                values.append(uri)
                values.append(_uri_password(uri))
        values.extend(self.age_identities)
        return tuple(v for v in values if v)

    def source_info(self) -> SourceInfo:
        """Hosts and database of the URI, with the credentials left out."""
        if not self.mongo_uri:
            return SourceInfo(hosts=())
        rest = self.mongo_uri.split("://", 1)[1]
        authority, _, path = rest.partition("/")
        hosts = authority.rpartition("@")[2]
        database = path.partition("?")[0] or None
        return SourceInfo(hosts=tuple(hosts.split(",")), database=database)


@attrs.frozen
class Environment:
    """The variables load_config reads, each named as it is set and typed by how it is read
    (backupnimbus.conversion); every one of them may be unset. AWS_DEFAULT_REGION, BACKUP_PREFIX
    and AWS_ENDPOINT_URL* are read as they are, and checked below."""

    DUMP_BACKEND: Text | None = None
    MONGO_URI: Secret | None = None
    AWS_S3_BUCKET_NAME: Secret | None = None
    AWS_ACCESS_KEY_ID: Secret | None = None
    AWS_SECRET_ACCESS_KEY: Secret | None = None
    AWS_SESSION_TOKEN: Secret | None = None
    AWS_REGION: Text | None = None
    APP_ENV: Annotated[str, OneOf(dict(zip(APP_ENVS, APP_ENVS, strict=True)),
                                  "one of " + ", ".join(APP_ENVS))] | None = None  # fmt: skip
    NODE_ENV: Annotated[str, OneOf(dict(zip(APP_ENVS, APP_ENVS, strict=True)),
                                   "one of " + ", ".join(APP_ENVS))] | None = None  # fmt: skip
    LOG_LEVEL: Annotated[str, OneOf({k.lower(): v for k, v in LOG_LEVELS.items()},
                                    "one of DEBUG, INFO, WARN, ERROR")] | None = None  # fmt: skip
    LOG_FORMAT: Annotated[str, OneOf({f: f for f in LOG_FORMATS}, "json or text")] | None = None
    NOTIFICATIONS_ENABLED: Flag = False
    NOTIFICATION_SENDER_EMAIL: Secret | None = None
    NOTIFICATION_RECIPIENTS: SecretWords = ()
    NOTIFY_ON_SUCCESS: Flag = True
    NOTIFY_ON_FAILURE: Flag = True
    MAILER_BACKEND: Text | None = None
    BACKUP_NAME: Text | None = None
    BACKUP_COMPRESS: Flag | None = None
    BACKUP_COMPRESSION: Text | None = None
    BACKUP_COMPRESSION_LEVEL: Count | None = None
    ALLOW_EMPTY_BACKUP: Flag = False
    MONGODUMP_PATH: Text | None = None
    MONGORESTORE_PATH: Text | None = None
    MONGO_CONNECT_TIMEOUT_S: Seconds = 30.0
    RESTORE_TARGET_URI: Secret | None = None
    DRILL_TARGET_URI: Secret | None = None
    DRILL_ALLOW_SOURCE: Flag = False
    MONGODUMP_NS_INCLUDE: Words = ()
    MONGODUMP_NS_EXCLUDE: Words = ()
    MONGODUMP_OPLOG: Annotated[str, OneOf({o: o for o in ("auto", "true", "false")},
                                          "one of auto, true, false")] = "auto"  # fmt: skip
    LOCAL_BACKUP_DIR: Text | None = None
    STORAGE_BACKEND: Text | None = None
    RETENTION_KEEP_LAST: Count = 0
    RETENTION_KEEP_HOURLY: Count = 0
    RETENTION_KEEP_DAILY: Count = 0
    RETENTION_KEEP_WEEKLY: Count = 0
    RETENTION_KEEP_MONTHLY: Count = 0
    RETENTION_KEEP_YEARLY: Count = 0
    AGE_RECIPIENTS: Text | None = None
    """Public keys as they are, or base64 / a secret reference (revealed below)."""
    AGE_IDENTITY_FILE: Text | None = None
    AGE_IDENTITY: Secret | None = None
    S3_SSE: Text | None = None
    S3_KMS_KEY_ID: Text | None = None
    S3_OBJECT_LOCK_MODE: Text | None = None
    S3_OBJECT_LOCK_DAYS: Count | None = None
    S3_OBJECT_LOCK_MAX_DAYS: Count | None = None


_VARIABLES = frozenset(field.name for field in attrs.fields(Environment))
_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
_CONFIG_CONVERTER = make_converter(forbid_extra_keys=True)
_log = logging.getLogger(__name__)


def load_config(
    environ: Mapping[str, str],
    *,
    secrets: SecretSource,
    require_mongo: bool = True,
    require_store: bool = False,
) -> Config:
    """Raises ConfigInvalidError that lists every problem; never includes a secret value.

    Each variable is converted on its own (backupnimbus.conversion, in detail: every variable's
    problem at once), then the values are checked together; the problems of
    both steps make one error. A variable that could not be converted counts as unset for the
    second step, which does not report it again.

    Args: require_store: the work needs a store, which must be chosen explicitly (a bucket, or
    STORAGE_BACKEND): a backup that silently lands on a container's disk is as good as lost.
    """
    in_lambda = bool(environ.get("AWS_LAMBDA_FUNCTION_NAME"))
    reveal = _revealer(environ, secrets, in_lambda=in_lambda)
    env, problems = _environment(environ, reveal, in_lambda=in_lambda)
    raw: dict[str, Any] = {"in_lambda": in_lambda}

    raw["dump_backend"] = env.DUMP_BACKEND
    # A plugin's database source has variables of its own, which the plugin reads.
    require_mongo = require_mongo and raw["dump_backend"] in (None, "mongodump")
    uri = env.MONGO_URI
    if uri is None and require_mongo and "MONGO_URI" not in environ:  # else already reported
        problems.append("MONGO_URI is required: a base64-encoded mongodb:// or mongodb+srv:// URI")
    elif uri is not None and not uri.startswith(_URI_SCHEMES):
        problems.append("MONGO_URI must decode to a URI starting with mongodb:// or mongodb+srv://")
    raw["mongo_uri"] = uri

    bucket = env.AWS_S3_BUCKET_NAME
    if bucket is not None and (not _BUCKET.match(bucket) or ".." in bucket):
        problems.append(
            "AWS_S3_BUCKET_NAME must decode to a valid S3 bucket name "
            "(3-63 lowercase letters, digits, dots or hyphens)"
        )
    raw["bucket"] = bucket

    raw["aws_access_key_id"] = env.AWS_ACCESS_KEY_ID
    raw["aws_secret_access_key"] = env.AWS_SECRET_ACCESS_KEY
    raw["aws_session_token"] = env.AWS_SESSION_TOKEN
    if (env.AWS_ACCESS_KEY_ID is None) != (env.AWS_SECRET_ACCESS_KEY is None):
        problems.append("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together")
    raw["aws_region"] = env.AWS_REGION or environ.get("AWS_DEFAULT_REGION")
    # boto3 reads these from os.environ itself; they are carried here so that a configuration
    # loaded from any mapping (tests, the Lambda handler's) means the same thing.
    raw["aws_endpoints"] = {
        name.removeprefix("AWS_ENDPOINT_URL").lstrip("_"): value
        for name, value in environ.items()
        if name.startswith("AWS_ENDPOINT_URL") and value
    }

    raw["app_env"] = (env.APP_ENV if "APP_ENV" in environ else env.NODE_ENV) or "production"
    raw["log_level"] = env.LOG_LEVEL or "INFO"
    raw["log_format"] = env.LOG_FORMAT

    enabled = env.NOTIFICATIONS_ENABLED
    sender = env.NOTIFICATION_SENDER_EMAIL
    recipients = env.NOTIFICATION_RECIPIENTS
    if sender is not None and not EMAIL_ADDRESS.match(sender):
        problems.append("NOTIFICATION_SENDER_EMAIL must decode to an e-mail address")
    bad = [r for r in recipients if not EMAIL_ADDRESS.match(r)]
    if bad:
        problems.append(
            f"NOTIFICATION_RECIPIENTS holds {len(bad)} invalid e-mail address(es); "
            "expected a base64-encoded, comma-separated list of addresses"
        )
    raw["mailer_backend"] = env.MAILER_BACKEND
    # SES needs both; a plugin mailer (MAILER_BACKEND) may address people its own way.
    with_ses = enabled and raw["mailer_backend"] in (None, "ses")
    if with_ses and sender is None:
        problems.append("NOTIFICATION_SENDER_EMAIL is required when NOTIFICATIONS_ENABLED=true")
    if with_ses and not recipients:
        problems.append("NOTIFICATION_RECIPIENTS is required when NOTIFICATIONS_ENABLED=true")
    raw["notifications"] = {
        "enabled": enabled,
        "sender": sender,
        "recipients": recipients,
        "on_success": env.NOTIFY_ON_SUCCESS,
        "on_failure": env.NOTIFY_ON_FAILURE,
    }

    name = env.BACKUP_NAME
    if name is not None and not _NAME.match(name):
        problems.append(
            "BACKUP_NAME must be letters, digits, '.', '_' or '-' (at most 128), "
            "starting with a letter or digit"
        )
    raw["backup_name"] = name or "mongodb"
    raw["backup_prefix"] = _backup_prefix(problems, environ.get("BACKUP_PREFIX", "backups/"))
    raw["backup_compression"] = _compression(problems, env)
    raw["allow_empty_backup"] = env.ALLOW_EMPTY_BACKUP
    raw["mongodump_path"] = env.MONGODUMP_PATH or "mongodump"
    raw["mongo_connect_timeout_s"] = env.MONGO_CONNECT_TIMEOUT_S
    raw["mongorestore_path"] = env.MONGORESTORE_PATH or _sibling_restore(raw["mongodump_path"])
    for variable, field in (("RESTORE_TARGET_URI", "restore_target_uri"),
                            ("DRILL_TARGET_URI", "drill_target_uri")):  # fmt: skip
        target = getattr(env, variable)
        if target is not None and not target.startswith(_URI_SCHEMES):
            problems.append(
                f"{variable} must decode to a URI starting with mongodb:// or mongodb+srv://"
            )
            target = None
        raw[field] = target
    raw["drill_allow_source"] = env.DRILL_ALLOW_SOURCE
    raw["ns_include"] = env.MONGODUMP_NS_INCLUDE
    raw["ns_exclude"] = env.MONGODUMP_NS_EXCLUDE
    raw["mongodump_oplog"] = env.MONGODUMP_OPLOG
    if raw["mongodump_oplog"] == "true" and raw["ns_include"]:
        problems.append(
            "MONGODUMP_OPLOG=true cannot be used with MONGODUMP_NS_INCLUDE: mongodump copies "
            "the oplog only for a dump of the whole deployment (it refuses --oplog with --db); "
            "unset MONGODUMP_NS_INCLUDE, or set MONGODUMP_OPLOG=auto or false"
        )
    raw["local_backup_dir"] = env.LOCAL_BACKUP_DIR or "./backups"
    raw["storage_backend"] = env.STORAGE_BACKEND or ("s3" if bucket else None)
    # A bucket that is set but unusable is already reported.
    bucket_missing = "AWS_S3_BUCKET_NAME" not in environ
    if require_store and bucket_missing and raw["storage_backend"] is None:
        problems.append(
            "no store configured: set AWS_S3_BUCKET_NAME (base64-encoded) to back up to S3, "
            "or STORAGE_BACKEND=local to use the directory in LOCAL_BACKUP_DIR (default ./backups)"
        )
    elif require_store and bucket_missing and raw["storage_backend"] == "s3":
        problems.append("STORAGE_BACKEND=s3 needs AWS_S3_BUCKET_NAME, the base64-encoded bucket")
    raw["retention"] = {rule: getattr(env, f"RETENTION_KEEP_{rule.upper()}") for rule in RULES}
    raw["age_recipients"] = _age_recipients(problems, env, reveal)
    raw["age_identities"] = _age_identities(problems, env)
    raw["s3_sse"], raw["s3_kms_key_id"] = _server_side_encryption(problems, env)
    lock = _object_lock(problems, env)
    raw["object_lock_mode"], raw["object_lock_days"], raw["object_lock_max_days"] = lock

    if raw["storage_backend"] == "local":
        long = [
            s for s in raw["backup_prefix"].split("/") if len(s.encode()) > _LOCAL_SEGMENT_BYTES
        ]
        if long:
            problems.append(
                f"BACKUP_PREFIX segments must be at most {_LOCAL_SEGMENT_BYTES} bytes for the "
                f"local store, a directory each (one is {len(long[0].encode())}): split it with '/'"
            )
    if name is None or _NAME.match(name):
        too_long = key_length_problem(raw["backup_prefix"], raw["backup_name"], "BACKUP_NAME")
        if too_long:
            problems.append(too_long)

    if problems:
        raise ConfigInvalidError(problems)
    config: Config = _CONFIG_CONVERTER.structure(raw, Config)
    return config


_URI_SCHEMES = ("mongodb://", "mongodb+srv://")


def _revealer(environ: Mapping[str, str], secrets: SecretSource, *, in_lambda: bool) -> Reveal:
    """Each secret variable revealed once: a reference is read from its store only once."""
    revealed: dict[str, str | None] = {}

    def reveal(name: str) -> str | None:
        # Inside Lambda the runtime sets the credentials itself, in plain text, never base64.
        if in_lambda and name in _CREDENTIALS:
            return environ[name].strip()
        if name not in revealed:
            revealed[name] = secrets.reveal(name=name)
        return revealed[name]

    return reveal


def _environment(
    environ: Mapping[str, str], reveal: Reveal, *, in_lambda: bool
) -> tuple[Environment, list[str]]:
    """The variables converted, and every conversion problem, in the schema's order."""
    given = {name: value for name, value in environ.items() if name in _VARIABLES}
    # Empty credentials mean unset: the Lambda emulator exports them empty when it has none,
    # and boto3's own chain (a role, ~/.aws) must then be used rather than the run refused.
    for name in _CREDENTIALS:
        if name in given and not given[name].strip():
            _log.debug("%s is set but empty; treated as unset", name)
            del given[name]
    if not in_lambda:
        given.pop("AWS_SESSION_TOKEN", None)  # only the Lambda runtime's own is used
    if "APP_ENV" in given:
        given.pop("NODE_ENV", None)  # the original tool's name, read only in APP_ENV's absence
    converter = make_converter()
    register_environment(converter, Environment, reveal)
    env, failures = structure_or_problems(converter, given, Environment)
    if env is not None:
        return env, []
    failed = {variable for variable, _ in failures}
    rest = {name: value for name, value in given.items() if name not in failed}
    env = converter.structure(rest, Environment)
    return env, [sentence for _, sentence in failures]


def _compression(problems: list[str], env: Environment) -> dict[str, Any]:
    algorithm = env.BACKUP_COMPRESSION
    try:
        chosen = choose_compression(
            compress=env.BACKUP_COMPRESS,
            algorithm=algorithm.lower() if algorithm else None,
            level=env.BACKUP_COMPRESSION_LEVEL,
        )
    except ConfigInvalidError as exc:
        problems.extend(exc.problems)
        chosen = Compression(GZIP, DEFAULT_LEVELS[GZIP])
    return {"algorithm": chosen.algorithm, "level": chosen.level}


S3_KEY_BYTES = 1024
_LOCAL_SEGMENT_BYTES = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _backup_prefix(problems: list[str], value: str) -> str:
    """BACKUP_PREFIX with exactly one trailing '/', or "" for the top of the bucket; a prefix
    S3 would store but no one could navigate ('a//b', '../x') is refused, not rewritten."""
    prefix = value.strip()
    if not prefix:
        return ""
    if prefix.startswith("/"):
        problems.append(
            "BACKUP_PREFIX must not start with '/': keys in a bucket are relative, "
            "e.g. backups/ (or an empty value for the top of the bucket)"
        )
        return "backups/"
    if _CONTROL.search(prefix):
        problems.append("BACKUP_PREFIX must not hold control characters")
        return "backups/"
    try:
        prefix.encode()
    except UnicodeEncodeError:  # undecodable bytes in the environment (surrogate escapes)
        problems.append("BACKUP_PREFIX must be valid UTF-8")
        return "backups/"
    segments = prefix.removesuffix("/").split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        problems.append(
            "BACKUP_PREFIX must not hold an empty, '.' or '..' segment ('a//', './x', 'x/../'): "
            "give names separated by single '/', e.g. backups/nightly/"
        )
        return "backups/"
    return prefix.removesuffix("/") + "/"


def key_length_problem(prefix: str, name: str, source: str) -> str | None:
    """Why `name` under `prefix` would make a key longer than S3 allows, or None; `source` is
    where the name came from (BACKUP_NAME, --name, the event's name)."""
    from datetime import UTC, datetime

    from backupnimbus.domain.keys import archive_key, manifest_key

    longest = manifest_key(
        archive_key(prefix=prefix, name=name, at=datetime(9999, 12, 31, tzinfo=UTC),
                    compression=ZSTD, encrypted=True)
    )  # fmt: skip
    size = len(longest.encode())
    if size <= S3_KEY_BYTES:
        return None
    return (
        f"BACKUP_PREFIX ({len(prefix.encode())} bytes) and {source} ({len(name.encode())} bytes, "
        f"twice in every key) make keys of up to {size} bytes, and S3 allows at most "
        f"{S3_KEY_BYTES}: shorten BACKUP_PREFIX or {source}"
    )


def validate_backup_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError("a name of letters, digits, '.', '_' or '-', at most 128")
    return name


def _age_recipients(problems: list[str], env: Environment, reveal: Reveal) -> tuple[str, ...]:
    value = env.AGE_RECIPIENTS
    if value is None:
        return ()
    if not value.startswith("age1") and not value.upper().startswith(_AGE_SECRET_PREFIX):
        try:  # base64, or a secret reference
            value = secret("AGE_RECIPIENTS", value, reveal)
        except ConversionProblem as exc:
            problems.extend(named("AGE_RECIPIENTS", str(exc)))
            return ()
    keys = tuple(key for key in re.split(r"[\s,]+", value) if key)
    if any(key.upper().startswith(_AGE_SECRET_PREFIX) for key in keys):
        problems.append(
            "AGE_RECIPIENTS holds a secret key (AGE-SECRET-KEY-...), which would let the backup "
            "side read every backup: give it the public key instead (age1..., printed by "
            "`age-keygen -y key.txt`), and keep the secret key for verify and restore"
        )
        return ()
    bad = [str(n) for n, key in enumerate(keys, start=1) if not _AGE_RECIPIENT.match(key)]
    if not keys or bad:
        which = f" (#{', #'.join(bad)} of them are not)" if bad else ""
        problems.append(
            "AGE_RECIPIENTS must hold age public keys, age1 and 58 more lowercase letters and "
            f"digits as printed by `age-keygen -y key.txt`, comma-separated{which}"
        )
        return ()
    return keys


def _age_identities(problems: list[str], env: Environment) -> tuple[str, ...]:
    path = env.AGE_IDENTITY_FILE
    encoded = env.AGE_IDENTITY
    if path is not None and encoded is not None:
        problems.append("set AGE_IDENTITY_FILE or AGE_IDENTITY, not both")
        return ()
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, ValueError) as exc:  # ValueError: not UTF-8, or a NUL in the path
            why = getattr(exc, "strerror", None) or (
                "not a text file" if isinstance(exc, UnicodeDecodeError) else "not a usable path"
            )
            problems.append(f"AGE_IDENTITY_FILE: cannot read {path} ({why})")
            return ()
        return _identity_keys(problems, "AGE_IDENTITY_FILE", text)
    if encoded is not None:
        return _identity_keys(problems, "AGE_IDENTITY", encoded)
    return ()


def _identity_keys(problems: list[str], name: str, text: str) -> tuple[str, ...]:
    """The AGE-SECRET-KEY-1... lines of an identity file; its comments are skipped."""
    lines = [line.strip() for line in text.splitlines()]
    keys = tuple(line for line in lines if line and not line.startswith("#"))
    bad = [str(n) for n, key in enumerate(keys, start=1) if not _AGE_IDENTITY.match(key.upper())]
    if not keys or bad:
        where = f" (line(s) #{', #'.join(bad)} of its keys are not)" if bad else ""
        problems.append(
            f"{name} must hold age identities, lines of AGE-SECRET-KEY-1 and 58 more "
            f"characters, as `age-keygen -o key.txt` writes them{where}; a public key (age1...) "
            "cannot decrypt"
        )
        return ()
    return keys


def _server_side_encryption(problems: list[str], env: Environment) -> tuple[str | None, str | None]:
    sse = env.S3_SSE
    kms_key_id = env.S3_KMS_KEY_ID
    algorithm = SSE_ALGORITHMS.get(sse.lower()) if sse is not None else None
    if sse is not None and algorithm is None:
        problems.append("S3_SSE must be AES256 (keys managed by S3) or aws:kms (keys in KMS)")
    elif kms_key_id is not None and algorithm != "aws:kms":
        problems.append(
            "S3_KMS_KEY_ID is used only with S3_SSE=aws:kms; set S3_SSE=aws:kms or unset it"
        )
    return algorithm, kms_key_id if algorithm == "aws:kms" else None


LOCK_MODES = {"governance": "GOVERNANCE", "compliance": "COMPLIANCE"}
MAX_LOCK_DAYS = 36_500
"""A hundred years: a longer compliance lock is surely a typo, and could never be undone."""


def _object_lock(problems: list[str], env: Environment) -> tuple[str | None, int, int]:
    given = env.S3_OBJECT_LOCK_MODE
    mode = None
    if given is not None and given.lower() != "off":
        mode = LOCK_MODES.get(given.lower())
        if mode is None:
            problems.append("S3_OBJECT_LOCK_MODE must be off, governance or compliance")
    counts: dict[str, int | None] = {}
    for name in ("S3_OBJECT_LOCK_DAYS", "S3_OBJECT_LOCK_MAX_DAYS"):
        value = counts[name] = getattr(env, name)
        if value is not None and value > MAX_LOCK_DAYS:
            problems.append(f"{name} must be at most {MAX_LOCK_DAYS} (100 years)")
    days, max_days = counts["S3_OBJECT_LOCK_DAYS"], counts["S3_OBJECT_LOCK_MAX_DAYS"]
    if given is None or (given.lower() == "off"):
        set_ = [name for name, value in counts.items() if value is not None]
        if set_:
            problems.append(
                f"{' and '.join(set_)} apply only with S3_OBJECT_LOCK_MODE=governance or "
                "compliance; set the mode or unset them"
            )
        return None, 0, 0
    if mode is None:
        return None, 0, 0
    if not days:
        problems.append(
            "S3_OBJECT_LOCK_DAYS is required with S3_OBJECT_LOCK_MODE: how many days (1 or "
            "more) every backup stays locked, e.g. 35 for a month of dailies"
        )
        return None, 0, 0
    if max_days is None:
        max_days = days
    elif max_days < days:
        problems.append(
            f"S3_OBJECT_LOCK_MAX_DAYS ({max_days}) must be at least S3_OBJECT_LOCK_DAYS ({days})"
        )
    return mode, days, max_days


def _sibling_restore(mongodump_path: str) -> str:
    """mongorestore beside a configured mongodump, so one setting points at both tools."""
    directory, name = os.path.split(mongodump_path)
    if not directory:
        return "mongorestore"
    sibling = name.replace("mongodump", "mongorestore")
    return os.path.join(directory, sibling if sibling != name else "mongorestore")


def _uri_password(uri: str) -> str:
    authority = uri.split("://", 1)[-1].partition("/")[0]
    userinfo, at, _ = authority.rpartition("@")
    return userinfo.partition(":")[2] if at else ""
