"""Secret variables that hold a reference (`ssm:…`, `secretsmanager:…`) instead of a value."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TypeVar

from backupnimbus.adapters.retrying import RetryPolicy
from backupnimbus.errors import ConfigInvalidError, SecretUnavailableError
from backupnimbus.ports.secret_source import SecretSource

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# Reading a reference takes AWS credentials, so the credentials themselves cannot be references.
NOT_REFERABLE = frozenset({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"})


class PrefixedSecrets:
    """Picks the SecretSource for each variable by the prefix of its value.

    Values without a known prefix go to `plain` (base64, which has no ':' so cannot collide).
    A reference source is made on first need, so a configuration without references never
    creates an AWS client (boto3 alone costs ~0.3 s of cold start).
    """

    def __init__(
        self,
        *,
        environ: Mapping[str, str],
        plain: SecretSource,
        by_prefix: Mapping[str, Callable[[], SecretSource]],
    ) -> None:
        self._environ = environ
        self._plain = plain
        self._by_prefix = by_prefix
        self._made: dict[str, SecretSource] = {}

    def reveal(self, *, name: str) -> str | None:
        raw = (self._environ.get(name) or "").strip()
        prefix = next((p for p in self._by_prefix if raw.startswith(p)), None)
        if prefix is None:
            return self._plain.reveal(name=name)
        if name in NOT_REFERABLE:
            raise ConfigInvalidError(
                [f"{name} cannot be a secret reference ({prefix}…): reading one needs AWS "
                 "credentials first. Give it base64-encoded, or unset it to use the role"]
            )  # fmt: skip
        if prefix not in self._made:
            try:
                self._made[prefix] = self._by_prefix[prefix]()
            except ConfigInvalidError:
                # The full configuration names what is wrong with them; say only what it stops.
                raise ConfigInvalidError(
                    [f"{name}: {raw} was not read, because the AWS credentials or region it "
                     "needs are invalid (see the other problems)"]
                ) from None  # fmt: skip
        return self._made[prefix].reveal(name=name)


def reference_of(environ: Mapping[str, str], name: str) -> str | None:
    raw = environ.get(name)
    return raw.strip() if raw is not None else None


def read_reference(
    fetch: Callable[[], _T], *, name: str, reference: str, retry: RetryPolicy, hint: str
) -> _T:
    """Runs `fetch` under `retry` and turns its failures into errors that name the variable and
    the reference, never a value.

    An AWS refusal (4xx: missing, access denied, a bad name or key) is the configuration's fault
    and will not pass by itself: ConfigInvalidError, exit 2. Throttling, 5xx and the network are
    retried; if they last, SecretUnavailableError, exit 1, so that a scheduler retries the run.
    """
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    from backupnimbus.adapters.aws_errors import is_transient

    try:
        value: _T = retry.call(fetch, is_transient=is_transient, log=log, what=reference)
        return value
    except ClientError as exc:
        reason = exc.response.get("Error", {}).get("Code", "unknown")
        if is_transient(exc):
            raise _unavailable(name, reference, reason, retry) from exc
        raise ConfigInvalidError(
            [f"{name}: {reference} could not be read: {reason}; {hint}"]
        ) from exc
    except NoCredentialsError as exc:
        raise ConfigInvalidError(
            [f"{name}: {reference} could not be read: no AWS credentials were found; set "
             "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (base64) or run with a role"]
        ) from exc  # fmt: skip
    except BotoCoreError as exc:
        raise _unavailable(name, reference, type(exc).__name__, retry) from exc


def _unavailable(
    name: str, reference: str, reason: str, retry: RetryPolicy
) -> SecretUnavailableError:
    return SecretUnavailableError(
        f"{name}: {reference} could not be read: {reason} (after {retry.attempts} attempts)",
        details={"variable": name, "reference": reference, "reason": reason},
    )
