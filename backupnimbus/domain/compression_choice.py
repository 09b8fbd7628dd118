"""Which compression a backup gets, from the settings that may ask for it.

`compress` (true/false) is the original tool's switch and stays for its users; `compression`
names the algorithm. Both may be given, by the environment, a command line or a Lambda event, and
they must not contradict each other: a backup is never compressed other than as asked.
"""

from __future__ import annotations

import attrs

from backupnimbus.errors import ConfigInvalidError
from backupnimbus.ports.compressor import (
    ALGORITHMS,
    DEFAULT_LEVELS,
    GZIP,
    LEVELS,
    NONE,
    Compression,
)


@attrs.frozen
class CompressionNames:
    """How the caller spells each setting, for the error messages."""

    compress: str = "BACKUP_COMPRESS"
    algorithm: str = "BACKUP_COMPRESSION"
    level: str = "BACKUP_COMPRESSION_LEVEL"


def choose_compression(
    *,
    compress: bool | None,
    algorithm: str | None,
    level: int | None,
    fallback: Compression | None = None,
    names: CompressionNames = CompressionNames(),
) -> Compression:
    """Args: each setting, None when not given; `fallback`, what applies when neither
    `compress` nor `algorithm` is given (the configured default, else gzip).

    Raises: ConfigInvalidError naming every problem: an unknown algorithm, a contradiction, a
    level the algorithm does not have.
    """
    problems: list[str] = []
    if algorithm is not None and algorithm not in ALGORITHMS:
        problems.append(f"{names.algorithm} must be one of {', '.join(ALGORITHMS)}")
        algorithm = None
    if compress is False and algorithm not in (None, NONE):
        problems.append(
            f"{names.compress}=false contradicts {names.algorithm}={algorithm}: "
            f"drop one of them ({names.algorithm}=none means no compression)"
        )
    if algorithm is None:
        inherited = fallback or Compression(GZIP, DEFAULT_LEVELS[GZIP])
        if compress is False:
            algorithm = NONE
        elif compress is True and inherited.algorithm == NONE:
            algorithm = GZIP
        else:
            algorithm = inherited.algorithm
            if level is None:
                level = inherited.level
    if level is not None and level not in LEVELS[algorithm]:
        span = LEVELS[algorithm]
        problems.append(
            f"{names.level} has no meaning without compression"
            if not span
            else f"{names.level} must be {span.start} to {span.stop - 1} for {algorithm}"
        )
    if problems:
        raise ConfigInvalidError(problems)
    return Compression(algorithm, level if level is not None else DEFAULT_LEVELS[algorithm])
