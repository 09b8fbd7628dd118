"""ObjectStore on Amazon S3: streaming multipart uploads that never overwrite."""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

import attrs
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

from backupnimbus.adapters.retrying import RetryPolicy
from backupnimbus.errors import BackupNotFoundError, ObjectExistsError, StorageFailedError
from backupnimbus.ports.object_store import Readable, StoredObject

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

MiB = 1024 * 1024
S3_MAX_PARTS = 10_000
S3_MIN_PART_SIZE = 5 * MiB
S3_MAX_PART_SIZE = 5 * 1024 * MiB

_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "InternalError",
        "ServiceUnavailable",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "503",
        "500",
    }
)
_EXISTS_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionError | HTTPClientError):
        return True
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error.get("Code", "") in _TRANSIENT_CODES or status >= 500
    return False


@attrs.frozen
class PartSizer:
    """Part sizes that start small and double every `parts_per_step` parts.

    With the defaults, the first 8 GiB go up in 8 MiB parts and 10,000 parts reach about 8 TB,
    past S3's 5 TB object limit, while memory holds only `concurrency + 1` parts at a time.
    """

    initial: int = attrs.field(
        default=8 * MiB,
        validator=[attrs.validators.ge(S3_MIN_PART_SIZE), attrs.validators.le(S3_MAX_PART_SIZE)],
    )
    """Size of the first parts; S3 refuses parts below 5 MiB (except the last)."""
    parts_per_step: int = attrs.field(default=1_000, validator=attrs.validators.ge(1))
    """How many parts are uploaded at one size before it doubles."""

    def size_of(self, part_number: int) -> int:
        return min(self.initial << ((part_number - 1) // self.parts_per_step), S3_MAX_PART_SIZE)


class S3ObjectStore:
    def __init__(
        self,
        *,
        client: S3Client,
        bucket: str,
        retry: RetryPolicy,
        part_sizer: PartSizer | None = None,
        concurrency: int = 2,
    ) -> None:
        self._client = client
        self._bucket = bucket
        self._retry = retry
        self._part_sizer = part_sizer or PartSizer()
        self._concurrency = concurrency

    def put_stream(self, *, key: str, stream: Readable) -> None:
        created = self._call(
            "CreateMultipartUpload",
            lambda: self._client.create_multipart_upload(Bucket=self._bucket, Key=key),
            key=key,
        )
        upload_id = created["UploadId"]
        try:
            parts = self._upload_parts(key=key, upload_id=upload_id, stream=stream)
            self._call(
                "CompleteMultipartUpload",
                lambda: self._client.complete_multipart_upload(
                    Bucket=self._bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
                    IfNoneMatch="*",
                ),
                key=key,
            )
        except BaseException:
            self._abort(key=key, upload_id=upload_id)
            raise

    def put_bytes(self, *, key: str, data: bytes) -> None:
        self._call(
            "PutObject",
            lambda: self._client.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=data,
                IfNoneMatch="*",
                ContentType="application/json",
            ),
            key=key,
        )

    def exists(self, *, key: str) -> bool:
        try:
            self._call(
                "HeadObject",
                lambda: self._client.head_object(Bucket=self._bucket, Key=key),
                key=key,
            )
        except BackupNotFoundError:
            return False
        return True

    @contextlib.contextmanager
    def open_read(self, *, key: str) -> Iterator[BinaryIO]:
        response = self._call(
            "GetObject", lambda: self._client.get_object(Bucket=self._bucket, Key=key), key=key
        )
        body = response["Body"]
        try:
            yield body
        finally:
            body.close()

    def list_objects(self, *, prefix: str) -> Iterator[StoredObject]:
        paginator = self._client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield StoredObject(
                        key=item["Key"], size=item["Size"], modified_at=item["LastModified"]
                    )
        except (ClientError, BotoCoreError) as exc:
            raise self._storage_error("ListObjectsV2", prefix, exc) from exc

    def delete(self, *, key: str) -> None:
        self._call(
            "DeleteObject",
            lambda: self._client.delete_object(Bucket=self._bucket, Key=key),
            key=key,
        )

    def _upload_parts(self, *, key: str, upload_id: str, stream: Readable) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        in_flight: list[concurrent.futures.Future[dict[str, Any]]] = []
        with concurrent.futures.ThreadPoolExecutor(
            max_workers=self._concurrency, thread_name_prefix="s3-part"
        ) as pool:
            try:
                number = 1
                while True:
                    # `concurrency` parts upload while the next is read: concurrency + 1 in memory.
                    while len(in_flight) > self._concurrency:
                        parts.append(in_flight.pop(0).result())
                    size = self._part_sizer.size_of(number)
                    data = _read_part(stream, size)
                    if not data and number > 1:
                        break
                    if number > S3_MAX_PARTS:
                        raise StorageFailedError(
                            f"The dump exceeds S3's {S3_MAX_PARTS} parts limit",
                            details={"key": key},
                        )
                    in_flight.append(pool.submit(self._upload_part, key, upload_id, number, data))
                    number += 1
                    if len(data) < size:
                        break
                parts.extend(future.result() for future in in_flight)
            except BaseException:
                for future in in_flight:
                    future.cancel()
                raise
        return parts

    def _upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> dict[str, Any]:
        response = self._call(
            "UploadPart",
            lambda: self._client.upload_part(
                Bucket=self._bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
            ),
            key=key,
        )
        return {"ETag": response["ETag"], "PartNumber": number}

    def _abort(self, *, key: str, upload_id: str) -> None:
        try:
            self._call(
                "AbortMultipartUpload",
                lambda: self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=key, UploadId=upload_id
                ),
                key=key,
            )
        except StorageFailedError:
            log.exception("could not abort multipart upload", extra={"key": key})

    def _call(self, operation: str, fn: Any, *, key: str) -> Any:
        try:
            return self._retry.call(fn, is_transient=is_transient, log=log, what=operation)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _EXISTS_CODES:
                raise ObjectExistsError(
                    f"A backup already exists at {key}", details={"key": key}
                ) from exc
            if code in {"404", "NoSuchKey", "NotFound"}:
                raise BackupNotFoundError(
                    f"No object at s3://{self._bucket}/{key}", details={"key": key}
                ) from exc
            raise self._storage_error(operation, key, exc) from exc
        except BotoCoreError as exc:
            raise self._storage_error(operation, key, exc) from exc

    def _storage_error(self, operation: str, key: str, exc: Exception) -> StorageFailedError:
        if isinstance(exc, ClientError):
            reason = exc.response.get("Error", {}).get("Code", "unknown")
        else:
            reason = type(exc).__name__
        return StorageFailedError(
            f"S3 {operation} failed on s3://{self._bucket}/{key}: {reason}",
            details={"operation": operation, "bucket": self._bucket, "key": key, "reason": reason},
        )


def _read_part(stream: Readable, size: int) -> bytes:
    """Reads until `size` bytes or the end: S3 refuses middle parts below 5 MiB, and a pipe or a
    transforming reader may hand out less than was asked for."""
    data = stream.read(size)
    if not data or len(data) >= size:
        return data
    chunks = [data]
    have = len(data)
    while have < size:
        chunk = stream.read(size - have)
        if not chunk:
            break
        chunks.append(chunk)
        have += len(chunk)
    return b"".join(chunks)
