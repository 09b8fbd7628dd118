"""ObjectStore on Amazon S3: streaming multipart uploads that never overwrite."""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from botocore.exceptions import BotoCoreError, ClientError

from backupnimbus.adapters.aws_errors import is_transient
from backupnimbus.adapters.retrying import RetryPolicy
from backupnimbus.adapters.s3_download import ResumingBody
from backupnimbus.adapters.s3_parts import S3_MAX_PARTS, PartSizer, multipart_etag
from backupnimbus.errors import (
    BackupNimbusError,
    BackupNotFoundError,
    ConfigInvalidError,
    DeadlineExceededError,
    ObjectExistsError,
    StorageFailedError,
)
from backupnimbus.ports.object_lock import Lock
from backupnimbus.ports.object_store import Readable, Stoppable, StoredObject

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

_EXISTS_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})
# Set on every multipart upload, so that after a lost response the object at the key can be
# told apart from one another writer put there.
UPLOAD_MARKER = "backupnimbus-upload"
# How often a wait on part uploads looks up from them to see whether the write must stop.
_POLL_S = 0.25
# How long a failed upload waits for its parts in flight before it aborts.
_SETTLE_S = 1.0


class S3ObjectStore:
    def __init__(
        self,
        *,
        client: S3Client,
        bucket: str,
        retry: RetryPolicy,
        part_sizer: PartSizer | None = None,
        concurrency: int = 3,
        sse: str | None = None,
        sse_kms_key_id: str | None = None,
    ) -> None:
        """`sse`: "AES256" or "aws:kms", asked for on every upload, with `sse_kms_key_id` (or
        the account's default S3 key) for KMS."""
        self._client = client
        self._bucket = bucket
        self._retry = retry
        self._part_sizer = part_sizer or PartSizer()
        self._concurrency = concurrency
        self._sse: dict[str, Any] = {}
        if sse is not None:
            self._sse["ServerSideEncryption"] = sse
        if sse_kms_key_id is not None:
            self._sse["SSEKMSKeyId"] = sse_kms_key_id

    def put_stream(self, *, key: str, stream: Readable) -> None:
        token = uuid.uuid4().hex
        upload_id = self._create(key=key, token=token)
        try:
            parts, size = self._upload_parts(key=key, upload_id=upload_id, stream=stream)
            self._complete(key=key, upload_id=upload_id, parts=parts, token=token, size=size)
        except BaseException:
            self._abort(key=key, upload_id=upload_id)
            raise

    def put_bytes(self, *, key: str, data: bytes) -> None:
        self._put_object(key=key, data=data, extra={})

    def put_locked_bytes(self, *, key: str, data: bytes, lock: Lock) -> None:
        self._put_object(
            key=key,
            data=data,
            extra={"ObjectLockMode": lock.mode, "ObjectLockRetainUntilDate": lock.retain_until},
        )

    def _put_object(self, *, key: str, data: bytes, extra: dict[str, Any]) -> None:
        attempts = _Attempts()
        try:
            self._call(
                "PutObject",
                attempts.track(
                    lambda: self._client.put_object(
                        Bucket=self._bucket,
                        Key=key,
                        Body=data,
                        IfNoneMatch="*",
                        ContentType="application/json",
                        # S3 refuses a write that is locked, by the request or by the bucket's
                        # default retention, without an integrity checksum.
                        ChecksumAlgorithm="CRC32",
                        **self._sse,
                        **extra,
                    )
                ),
                key=key,
            )
        except ObjectExistsError:
            # A retry after a lost response finds the object its first attempt wrote.
            if not attempts.ambiguous or not self._holds(key, data):
                raise
            log.warning("PutObject's response was lost, but the object is ours", extra={"key": key})

    def require_object_lock(self) -> None:
        fix = (
            f"S3_OBJECT_LOCK_MODE is set, but bucket {self._bucket} has no Object Lock: Object "
            "Lock can be enabled on an existing bucket only with versioning on (aws s3api "
            f"put-bucket-versioning --bucket {self._bucket} --versioning-configuration "
            f"Status=Enabled, then aws s3api put-object-lock-configuration --bucket "
            f"{self._bucket} --object-lock-configuration ObjectLockEnabled=Enabled), or use a "
            "bucket created with Object Lock (the template's CreateBucket with ObjectLockDays); "
            "or set S3_OBJECT_LOCK_MODE=off"
        )
        try:
            answer = self._call(
                "GetObjectLockConfiguration",
                lambda: self._client.get_object_lock_configuration(Bucket=self._bucket),
                key="",
            )
        except StorageFailedError as error:
            if error.details.get("reason") == "ObjectLockConfigurationNotFoundError":
                raise ConfigInvalidError([fix]) from error
            raise
        enabled = answer.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
        if enabled != "Enabled":
            raise ConfigInvalidError([fix])

    def lock(self, *, key: str, lock: Lock) -> None:
        # Setting the same date twice is harmless, so a retry after a lost response is too.
        self._call(
            "PutObjectRetention",
            lambda: self._client.put_object_retention(
                Bucket=self._bucket,
                Key=key,
                Retention={"Mode": lock.mode, "RetainUntilDate": lock.retain_until},  # type: ignore[misc, arg-type]
                ChecksumAlgorithm="CRC32",
            ),
            key=key,
        )

    def lock_of(self, *, key: str) -> Lock | None:
        # HeadObject, not GetObjectRetention: it answers "no lock" without an error, and S3
        # includes the lock when the caller may read it (s3:GetObjectRetention).
        head = self._call(
            "HeadObject", lambda: self._client.head_object(Bucket=self._bucket, Key=key), key=key
        )
        mode = head.get("ObjectLockMode")
        until = head.get("ObjectLockRetainUntilDate")
        if mode is None or until is None:
            return None
        return Lock(mode=mode, retain_until=until)

    def exists(self, *, key: str) -> bool:
        # A listing, not HeadObject: S3 answers HeadObject on a missing key with 403 unless the
        # caller may list the whole bucket, and the least-privilege role may list its prefix only.
        listed = self._call(
            "ListObjectsV2",
            lambda: self._client.list_objects_v2(Bucket=self._bucket, Prefix=key, MaxKeys=1),
            key=key,
        )
        return any(item["Key"] == key for item in listed.get("Contents", []))

    @contextlib.contextmanager
    def open_read(self, *, key: str) -> Iterator[BinaryIO]:
        response = self._call(
            "GetObject", lambda: self._client.get_object(Bucket=self._bucket, Key=key), key=key
        )
        body = ResumingBody(
            response,
            reopen=lambda offset, etag: self._read_rest(key, offset, etag),
            give_up=lambda exc: self._storage_error("GetObject", key, exc),
            resumes=self._retry.attempts - 1,
        )
        try:
            yield cast(BinaryIO, body)
        finally:
            body.close()

    def _read_rest(self, key: str, offset: int, etag: str) -> Any:
        try:
            return self._call(
                "GetObject",
                lambda: self._client.get_object(
                    Bucket=self._bucket, Key=key, Range=f"bytes={offset}-", IfMatch=etag
                ),
                key=key,
            )
        except ObjectExistsError as exc:  # 412: If-Match failed
            raise StorageFailedError(
                f"s3://{self._bucket}/{key} changed while it was being read",
                details={
                    "operation": "GetObject",
                    "bucket": self._bucket,
                    "key": key,
                    "reason": "PreconditionFailed",
                },
            ) from exc

    def list_objects(self, *, prefix: str) -> Iterator[StoredObject]:
        # Page by page through the retrying call, not boto3's paginator: a listing decides
        # whether a key is taken and what retention sees, so a SlowDown must not end it.
        pages: dict[str, Any] = {"Bucket": self._bucket, "Prefix": prefix}
        while True:
            page = self._call(
                "ListObjectsV2", lambda: self._client.list_objects_v2(**pages), key=prefix
            )
            for item in page.get("Contents", []):
                yield StoredObject(
                    key=item["Key"], size=item["Size"], modified_at=item["LastModified"]
                )
            if not page.get("IsTruncated"):
                return
            pages["ContinuationToken"] = page["NextContinuationToken"]

    def delete(self, *, key: str) -> None:
        self._call(
            "DeleteObject",
            lambda: self._client.delete_object(Bucket=self._bucket, Key=key),
            key=key,
        )

    def _create(self, *, key: str, token: str) -> str:
        attempts = _Attempts()
        created = self._call(
            "CreateMultipartUpload",
            attempts.track(
                lambda: self._client.create_multipart_upload(
                    Bucket=self._bucket,
                    Key=key,
                    Metadata={UPLOAD_MARKER: token},
                    # S3 then checks every part's CRC32 on arrival and stores the object's.
                    ChecksumAlgorithm="CRC32",
                    **self._sse,
                )
            ),
            key=key,
        )
        upload_id: str = created["UploadId"]
        if attempts.ambiguous:
            # A lost response may have left an upload behind that nobody would ever abort.
            self._abort_others(key=key, keep=upload_id)
        return upload_id

    def _abort_others(self, *, key: str, keep: str) -> None:
        """Aborts every open upload of exactly `key` but `keep`.

        S3 cannot say which of them the lost response created. A key names one backup to the
        second, so the others are strays, or a concurrent run for the same key, which could
        not have won the key anyway (and now fails cleanly a little sooner).
        """
        try:
            listed = self._call(
                "ListMultipartUploads",
                lambda: self._client.list_multipart_uploads(Bucket=self._bucket, Prefix=key),
                key=key,
            )
        except BackupNimbusError:
            log.exception(
                "could not list the uploads a lost response may have left", extra={"key": key}
            )
            return
        for upload in listed.get("Uploads", []):
            if upload.get("Key") == key and upload.get("UploadId") != keep:
                log.warning("aborting a stray multipart upload", extra={"key": key})
                self._abort(key=key, upload_id=upload["UploadId"])

    def _upload_parts(
        self, *, key: str, upload_id: str, stream: Readable
    ) -> tuple[list[dict[str, Any]], int]:
        parts: list[dict[str, Any]] = []
        size = 0
        in_flight: list[concurrent.futures.Future[dict[str, Any]]] = []
        # Set when the upload is given up: part retries stop, and their back-off sleeps end.
        abandoned = threading.Event()
        pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=self._concurrency, thread_name_prefix="s3-part"
        )
        try:
            number = 1
            while True:
                # `concurrency` parts upload while the next is read: concurrency + 1 in memory.
                while len(in_flight) > self._concurrency:
                    parts.append(_next_done(in_flight, stream))
                part_size = self._part_sizer.size_of(number)
                data = _read_part(stream, part_size)
                if not data and number > 1:
                    break
                if number > S3_MAX_PARTS:
                    raise StorageFailedError(
                        f"The dump exceeds S3's {S3_MAX_PARTS} parts limit",
                        details={"key": key},
                    )
                in_flight.append(
                    pool.submit(self._upload_part, key, upload_id, number, data, abandoned)
                )
                size += len(data)
                number += 1
                if len(data) < part_size:
                    break
            while in_flight:
                parts.append(_next_done(in_flight, stream))
        except BaseException as failure:
            abandoned.set()
            pool.shutdown(wait=False, cancel_futures=True)
            # A part on its way usually lands within moments, and an abort after it frees it; S3
            # may keep a part that lands after the abort. Out of time, nothing is waited for.
            if not isinstance(failure, DeadlineExceededError):
                concurrent.futures.wait(in_flight, timeout=_SETTLE_S)
            raise
        pool.shutdown(wait=True)
        return parts, size

    def _upload_part(
        self, key: str, upload_id: str, number: int, data: bytes, abandoned: threading.Event
    ) -> dict[str, Any]:
        def attempt() -> Any:
            if abandoned.is_set():
                raise StorageFailedError("The upload was abandoned", details={"key": key})
            return self._client.upload_part(
                Bucket=self._bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                Body=data,
                ChecksumAlgorithm="CRC32",
            )

        response = self._call("UploadPart", attempt, key=key, abandoned=abandoned)
        return {
            "ETag": response["ETag"],
            "PartNumber": number,
            "ChecksumCRC32": response["ChecksumCRC32"],
        }

    def _complete(
        self, *, key: str, upload_id: str, parts: list[dict[str, Any]], token: str, size: int
    ) -> None:
        attempts = _Attempts()
        try:
            self._call(
                "CompleteMultipartUpload",
                attempts.track(
                    lambda: self._client.complete_multipart_upload(
                        Bucket=self._bucket,
                        Key=key,
                        UploadId=upload_id,
                        MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
                        IfNoneMatch="*",
                    )
                ),
                key=key,
            )
        except (StorageFailedError, BackupNotFoundError):
            # After a lost response the retry finds the upload gone (NoSuchUpload) or the key
            # taken (PreconditionFailed), whether by this upload or by another writer: only the
            # object itself can tell.
            if not attempts.ambiguous or not self._is_ours(key, token, parts, size):
                raise
            log.warning(
                "CompleteMultipartUpload's response was lost, but the object is this upload",
                extra={"key": key},
            )

    def _is_ours(self, key: str, token: str, parts: list[dict[str, Any]], size: int) -> bool:
        try:
            head = self._call(
                "HeadObject",
                lambda: self._client.head_object(Bucket=self._bucket, Key=key),
                key=key,
            )
        except BackupNotFoundError:
            return False
        # The marker is this upload's alone; the size and the ETag, S3's digest of the parts'
        # ETags, say it holds exactly the parts sent. With SSE-KMS a part's ETag is no MD5 and
        # the object's is not documented to follow from them, so only the size is compared.
        ours: bool = head.get("Metadata", {}).get(UPLOAD_MARKER) == token
        intact: bool = head.get("ContentLength") == size and (
            self._sse.get("ServerSideEncryption") == "aws:kms"
            or head.get("ETag", "").strip('"') == multipart_etag(part["ETag"] for part in parts)
        )
        if ours and not intact:
            log.error(
                "the object of this upload differs from what was uploaded", extra={"key": key}
            )
        return ours and intact

    def _holds(self, key: str, data: bytes) -> bool:
        try:
            with self.open_read(key=key) as body:
                return bool(body.read() == data)
        except BackupNotFoundError:
            return False

    def _abort(self, *, key: str, upload_id: str) -> None:
        try:
            self._call(
                "AbortMultipartUpload",
                lambda: self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=key, UploadId=upload_id
                ),
                key=key,
            )
        except StorageFailedError as error:
            if error.details.get("reason") == "NoSuchUpload":
                # An earlier attempt whose response was lost did abort it.
                return
            log.exception("could not abort multipart upload", extra={"key": key})

    def _call(
        self, operation: str, fn: Any, *, key: str, abandoned: threading.Event | None = None
    ) -> Any:
        try:
            if abandoned is None:
                return self._retry.call(fn, is_transient=is_transient, log=log, what=operation)
            retrying = self._retry.retrying(
                is_transient=lambda exc: not abandoned.is_set() and is_transient(exc),
                log=log,
                what=operation,
            )
            return retrying.copy(sleep=abandoned.wait)(fn)
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


class _Attempts:
    """Remembers whether an attempt failed in a way that may still have taken effect."""

    def __init__(self) -> None:
        self.ambiguous = False

    def track(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        def attempt() -> Any:
            try:
                return fn()
            except Exception as exc:
                # A 5xx, a reset or a timeout: S3 may have done it and the answer got lost.
                if is_transient(exc):
                    self.ambiguous = True
                raise

        return attempt


def _next_done(
    in_flight: list[concurrent.futures.Future[dict[str, Any]]], stream: Readable
) -> dict[str, Any]:
    """The oldest part's result, raising as soon as any part failed, or as soon as the stream
    says to stop, rather than when a stalled upload of the oldest part times out."""
    while True:
        for future in in_flight:
            if future.done() and future.exception() is not None:
                future.result()
        if in_flight[0].done():
            return in_flight.pop(0).result()
        if isinstance(stream, Stoppable):
            stream.raise_if_stopped()
        running = [future for future in in_flight if not future.done()]
        concurrent.futures.wait(
            running, timeout=_POLL_S, return_when=concurrent.futures.FIRST_COMPLETED
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
