"""SecretSource on AWS Secrets Manager: `secretsmanager:<name-or-arn>[#json-key]`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from backupnimbus.adapters.retrying import RetryPolicy
from backupnimbus.adapters.secret_references import read_reference, reference_of
from backupnimbus.errors import ConfigInvalidError

PREFIX = "secretsmanager:"


class SecretsManagerClient(Protocol):
    meta: Any

    def get_secret_value(self, *, SecretId: str) -> Mapping[str, Any]: ...


class SecretsManagerSecrets:
    """Each variable's value is the secret's text, or with `#key` the string under that key of
    the secret's JSON object (one secret can hold every value of a deployment). Each secret is
    read once per instance, that is once per run, however many variables use it."""

    def __init__(
        self, *, environ: Mapping[str, str], client: SecretsManagerClient, retry: RetryPolicy
    ) -> None:
        self._environ = environ
        self._client = client
        self._retry = retry
        self._texts: dict[str, str] = {}

    def reveal(self, *, name: str) -> str | None:
        reference = reference_of(self._environ, name)
        if reference is None:
            return None
        secret_id, hashmark, key = reference.removeprefix(PREFIX).partition("#")
        if not secret_id.strip() or (hashmark and not key):
            raise ConfigInvalidError(
                [f"{name}: {reference} is not a valid reference; expected "
                 "secretsmanager:<name-or-arn> or secretsmanager:<name-or-arn>#<json-key>"]
            )  # fmt: skip
        text = self._text(secret_id.strip(), name=name, reference=reference)
        return _field(text, key, name=name, reference=reference) if hashmark else text

    def _text(self, secret_id: str, *, name: str, reference: str) -> str:
        if secret_id not in self._texts:
            response = read_reference(
                lambda: self._client.get_secret_value(SecretId=secret_id),
                name=name,
                reference=reference,
                retry=self._retry,
                hint=f"check that the secret exists in {self._client.meta.region_name} and that "
                "the role may secretsmanager:GetSecretValue on it (and kms:Decrypt on its key)",
            )
            text = response.get("SecretString")
            if not isinstance(text, str):
                raise ConfigInvalidError(
                    [f"{name}: {reference} holds binary data (SecretBinary); store the value as "
                     "text (SecretString)"]
                )  # fmt: skip
            self._texts[secret_id] = text
        return self._texts[secret_id]


def _field(text: str, key: str, *, name: str, reference: str) -> str:
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        problem = f"the secret is not a JSON object; drop '#{key}' to use its whole text"
    elif key not in document:
        problem = f"the secret's JSON object has no key {key!r}"
    elif not isinstance(value := document[key], str):
        problem = f"the value under {key!r} is not a string"
    else:
        return value
    raise ConfigInvalidError([f"{name}: {reference}: {problem}"])
