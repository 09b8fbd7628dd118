"""`backupnimbus run`, with the S3 store's part size and upload concurrency set from argv.

The tuning sweep measures candidate settings with this instead of editing the core: it is the
CLI's own path (config from the environment, logging, container, RunBackup) with one port
replaced through bootstrap's typed `store` argument. `--checksum CRC32`
adds ChecksumAlgorithm to CreateMultipartUpload through a botocore event hook on the client,
as `aws s3 cp` does, which is what a change to S3ObjectStore.put_stream would do.

    python -m benchmarks.tuned_run --concurrency 4 --part-mib 8 [--checksum CRC32]
                                   [--no-compress] [--name NAME]
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from backupnimbus.ports.compressor import GZIP, NONE, Compression


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tuned_run")
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--part-mib", type=int, required=True)
    parser.add_argument("--checksum", help="ChecksumAlgorithm for CreateMultipartUpload")
    parser.add_argument("--no-compress", action="store_true")
    parser.add_argument("--name", default="tuned")
    args = parser.parse_args(argv)

    from backupnimbus.adapters.retrying import RetryPolicy
    from backupnimbus.adapters.s3 import S3ObjectStore
    from backupnimbus.adapters.s3_parts import MiB, PartSizer
    from backupnimbus.domain.models import BackupRequest
    from backupnimbus.domain.run_backup import RunBackup
    from backupnimbus.entrypoints.container import (
        _aws_client,
        bootstrap,
        config_from_environment,
    )
    from backupnimbus.entrypoints.logging import configure_logging
    from backupnimbus.redaction import Redactor

    config = config_from_environment()
    configure_logging(level=config.log_level, redactor=Redactor(config.secret_values()))
    assert config.bucket is not None, "the sweep needs AWS_S3_BUCKET_NAME"
    retry = RetryPolicy()
    client = _aws_client("s3", config)
    if args.checksum:
        algorithm = args.checksum

        def declare_checksum(params: dict[str, Any], **_: Any) -> None:
            params.setdefault("ChecksumAlgorithm", algorithm)

        client.meta.events.register(
            "before-parameter-build.s3.CreateMultipartUpload", declare_checksum
        )
    store = S3ObjectStore(
        client=client,
        bucket=config.bucket,
        retry=retry,
        part_sizer=PartSizer(initial=args.part_mib * MiB),
        concurrency=args.concurrency,
    )
    container = bootstrap(config, store=store, retry=retry)
    result = container.resolve(RunBackup).run(
        request=BackupRequest(
            name=args.name,
            compression=Compression(
                NONE if args.no_compress else GZIP, None if args.no_compress else 2
            ),
        )
    )
    print(json.dumps({"key": result.manifest.key, "size": result.manifest.size}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
