"""SecretSource on SSM Parameter Store: `ssm:/path/to/param`, read with decryption."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from backupnimbus.adapters.retrying import RetryPolicy
from backupnimbus.adapters.secret_references import read_reference, reference_of
from backupnimbus.errors import ConfigInvalidError

PREFIX = "ssm:"


class SsmClient(Protocol):
    meta: Any

    def get_parameter(self, *, Name: str, WithDecryption: bool) -> Mapping[str, Any]: ...


class SsmParameterSecrets:
    """Each variable's value is the parameter its `ssm:` reference names, as stored (plain, not
    base64). A SecureString is decrypted, which needs kms:Decrypt on its key. Each parameter is
    read once per instance, that is once per run."""

    def __init__(
        self, *, environ: Mapping[str, str], client: SsmClient, retry: RetryPolicy
    ) -> None:
        self._environ = environ
        self._client = client
        self._retry = retry
        self._values: dict[str, str] = {}

    def reveal(self, *, name: str) -> str | None:
        reference = reference_of(self._environ, name)
        if reference is None:
            return None
        parameter = reference.removeprefix(PREFIX).strip()
        if not parameter:
            raise ConfigInvalidError(
                [f"{name}: {reference} names no parameter; expected ssm:/path/to/parameter"]
            )
        if parameter not in self._values:
            self._values[parameter] = read_reference(
                lambda: self._read(parameter),
                name=name,
                reference=reference,
                retry=self._retry,
                hint=f"check that the parameter exists in {self._client.meta.region_name} and "
                "that the role may ssm:GetParameter on it (and kms:Decrypt on its key)",
            )
        return self._values[parameter]

    def _read(self, parameter: str) -> str:
        response = self._client.get_parameter(Name=parameter, WithDecryption=True)
        return str(response["Parameter"]["Value"])
