"""A fault-injecting HTTP proxy in front of an S3 endpoint (the moto server), for tests.

Point a client's endpoint (AWS_ENDPOINT_URL_S3) at `FaultProxy.url`: every request is
classified as an S3 operation from its method and query string, matched against a list of
rules, and either forwarded to the real endpoint or answered with a fault:

- 503 SlowDown or 500 InternalError, with S3's XML error body;
- 404 NoSuchUpload or 412 PreconditionFailed, as S3 answers a retried request whose first
  attempt took effect (used with `forward=True` on an earlier rule);
- a connection reset: the socket is closed without a response, with SO_LINGER 0 so that the
  client sees an RST;
- a stall: no response until `stall_s` seconds passed (longer than the client's read timeout),
  then a reset;
- a truncated body: the real response's headers, half of its body, then the connection closes.

A rule with `forward=True` first lets the request reach S3 and then loses (or spoils) the
response, which is how a client ends up retrying something that already happened. The proxy
counts what it saw and what it injected, per rule and per operation, and keeps a log of every
request (its target and a digest of its body), so a test can tell a retry from an ignored fault.
"""

from __future__ import annotations

import collections
import contextlib
import enum
import hashlib
import http.client
import http.server
import random
import socket
import struct
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import attrs

_CHUNK = 64 * 1024
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "proxy-connection"}


class Action(enum.Enum):
    SLOW_DOWN = "503 SlowDown"
    INTERNAL_ERROR = "500 InternalError"
    NO_SUCH_UPLOAD = "404 NoSuchUpload"
    PRECONDITION_FAILED = "412 PreconditionFailed"
    RESET = "connection reset"
    STALL = "stall"
    TRUNCATE = "truncated body"


_ERRORS = {
    Action.SLOW_DOWN: (503, "SlowDown", "Please reduce your request rate."),
    Action.INTERNAL_ERROR: (500, "InternalError", "We encountered an internal error."),
    Action.NO_SUCH_UPLOAD: (404, "NoSuchUpload", "The specified upload does not exist."),
    Action.PRECONDITION_FAILED: (
        412,
        "PreconditionFailed",
        "At least one of the pre-conditions you specified did not hold",
    ),
}


@attrs.define(eq=False)
class Rule:
    """Which calls of one operation fail, and how."""

    operation: str
    """e.g. "UploadPart", "CompleteMultipartUpload", "PutObject", "GetObject" (see classify)."""
    actions: tuple[Action, ...]
    """The faults, used in turn by successive injections."""
    calls: frozenset[int] | None = None
    """1-based numbers of the matching calls to hit; None: every call (or by probability)."""
    probability: float | None = None
    """Hit each matching call with this probability, drawn from a generator seeded by `seed`."""
    seed: int = 0
    forward: bool = False
    """The request reaches S3 first; the fault replaces (or spoils) its response."""
    stall_s: float = 5.0
    """How long a STALL holds the connection before resetting it."""
    hook: Callable[[], None] | None = None
    """Runs when the rule fires, before the fault is delivered (e.g. a concurrent writer)."""
    seen: int = 0
    """Calls of the operation so far, including those another rule failed."""
    injected: collections.Counter[Action] = attrs.Factory(collections.Counter)
    """Faults delivered, per action."""
    _rng: random.Random = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    @property
    def total(self) -> int:
        return sum(self.injected.values())

    def hits(self) -> bool:
        """Whether the current matching call (number `seen`) is one to fail."""
        if self.calls is not None and self.seen not in self.calls:
            return False
        return self.probability is None or self._rng.random() < self.probability

    def inject(self) -> Action:
        action = self.actions[self.total % len(self.actions)]
        self.injected[action] += 1
        return action


@attrs.frozen
class Request:
    """One request the proxy saw, and what became of it."""

    operation: str
    target: str
    """The path and query: bucket, key, and e.g. uploadId and partNumber."""
    body_sha256: str
    fault: Action | None
    """The fault delivered instead of (or spoiling) S3's answer; None: S3's answer was relayed."""
    status: int | None
    """S3's status when its answer was relayed."""

    def same_as(self, other: Request) -> bool:
        """The same operation on the same target with the same body: a re-send."""
        return (self.operation, self.target, self.body_sha256) == (
            other.operation,
            other.target,
            other.body_sha256,
        )


def classify(method: str, path: str, headers: Any) -> str:
    """The S3 operation of a path-style request (http://host/bucket/key?query)."""
    parsed = urllib.parse.urlsplit(path)
    query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
    parts = parsed.path.lstrip("/").split("/", 1)
    has_key = len(parts) == 2 and parts[1] != ""
    copy = "x-amz-copy-source" in {k.lower() for k in headers}
    if has_key:
        if "uploads" in query and method == "POST":
            return "CreateMultipartUpload"
        if "uploadId" in query:
            if method == "PUT":
                return "UploadPartCopy" if copy else "UploadPart"
            return {
                "POST": "CompleteMultipartUpload",
                "DELETE": "AbortMultipartUpload",
                "GET": "ListParts",
            }.get(method, f"{method} upload")
        return {
            "PUT": "CopyObject" if copy else "PutObject",
            "GET": "GetObject",
            "HEAD": "HeadObject",
            "DELETE": "DeleteObject",
        }.get(method, f"{method} object")
    if method == "GET":
        if "uploads" in query:
            return "ListMultipartUploads"
        return "ListObjectsV2" if query.get("list-type") == ["2"] else "ListObjects"
    if method == "POST" and "delete" in query:
        return "DeleteObjects"
    return {"PUT": "CreateBucket", "HEAD": "HeadBucket", "DELETE": "DeleteBucket"}.get(
        method, f"{method} bucket"
    )


class FaultProxy:
    """An HTTP proxy on 127.0.0.1 (a free port) that injects the faults its rules ask for."""

    def __init__(self, upstream: str, rules: Iterable[Rule] = ()) -> None:
        target = urllib.parse.urlsplit(upstream)
        assert target.hostname is not None
        self._upstream = (target.hostname, target.port or 80)
        self._rules: list[Rule] = list(rules)
        self._lock = threading.Lock()
        self._serial = threading.Lock()
        self.serialized: frozenset[str] = frozenset()
        """Operations forwarded one at a time (see `serialize`)."""
        self.operations: collections.Counter[str] = collections.Counter()
        """Every request seen, per operation."""
        self.answered: collections.Counter[tuple[str, int]] = collections.Counter()
        """Responses S3 gave that reached the client, per (operation, status)."""
        self.requests: list[Request] = []
        """Every request, in the order its outcome was decided (see `Request`)."""
        self.stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fault-proxy", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def set_rules(self, rules: Iterable[Rule]) -> list[Rule]:
        with self._lock:
            self._rules = list(rules)
            self.operations.clear()
            self.answered.clear()
            self.requests.clear()
            return list(self._rules)

    def serialize(self, *operations: str) -> None:
        """Forwards these operations one at a time.

        S3 checks If-None-Match and writes in one atomic step; moto checks, then writes, without a
        lock, so two concurrent conditional writes to one key could both pass its check. With
        the writes serialised, a race test checks BackupNimbus, not moto.
        """
        self.serialized = frozenset(operations)

    @property
    def injected(self) -> int:
        with self._lock:
            return sum(rule.total for rule in self._rules)

    def decide(self, operation: str) -> tuple[Rule, Action] | None:
        """Every rule of the operation counts the call; the first that hits it injects."""
        with self._lock:
            self.operations[operation] += 1
            matching = [rule for rule in self._rules if rule.operation == operation]
            for rule in matching:
                rule.seen += 1
            fired = next(((rule, rule.inject()) for rule in matching if rule.hits()), None)
        if fired is not None and fired[0].hook is not None:
            fired[0].hook()
        return fired

    def count_answer(self, operation: str, status: int) -> None:
        with self._lock:
            self.answered[(operation, status)] += 1

    def log_request(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def resent(self, operation: str) -> list[tuple[Request, Request | None]]:
        """Each faulted request of the operation, with the first later identical request that
        S3 answered with a 2xx (None when none came): the proof that a fault was retried."""
        with self._lock:
            seen = list(self.requests)
        pairs: list[tuple[Request, Request | None]] = []
        for index, faulted in enumerate(seen):
            if faulted.operation != operation or faulted.fault is None:
                continue
            retry = next(
                (
                    later
                    for later in seen[index + 1 :]
                    if later.same_as(faulted) and later.status is not None and later.status < 300
                ),
                None,
            )
            pairs.append((faulted, retry))
        return pairs

    @contextlib.contextmanager
    def exclusive(self, operation: str) -> Iterator[None]:
        if operation in self.serialized:
            with self._serial:
                yield
        else:
            yield

    def connect_upstream(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(*self._upstream, timeout=120)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    proxy: FaultProxy


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    _digest: Any
    """The sha256 of the current request's body, fed as the body is read."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

    def finish(self) -> None:
        # After a reset the socket is gone; there is nothing left to flush.
        with contextlib.suppress(OSError, ValueError):
            super().finish()

    def _handle(self) -> None:
        proxy = self.server.proxy
        operation = classify(self.command, self.path, self.headers)
        self._digest = hashlib.sha256()
        fired = proxy.decide(operation)
        # A truncated body is the real response's, so that request always reaches S3.
        if fired is None or fired[0].forward or fired[1] is Action.TRUNCATE:
            with proxy.exclusive(operation):
                response = self._forward()
            if fired is None:
                proxy.count_answer(operation, response.status)
                self._log(operation, None, response.status)
                self._relay(response)
                return
            rule, action = fired
            if action is Action.TRUNCATE:
                self._log(operation, action, None)
                self._relay(response, truncate=True)
                return
            response.read()
        else:
            rule, action = fired
            self._drain_body()
        self._log(operation, action, None)
        self._inject(rule, action)

    def _log(self, operation: str, fault: Action | None, status: int | None) -> None:
        self.server.proxy.log_request(
            Request(operation, self.path, self._digest.hexdigest(), fault, status)
        )

    def _inject(self, rule: Rule, action: Action) -> None:
        if action in _ERRORS:
            status, code, message = _ERRORS[action]
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Error><Code>{code}</Code><Message>{message}</Message>"
                "<RequestId>FAULTPROXY</RequestId></Error>"
            ).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            return
        if action is Action.STALL:
            self.server.proxy.stopping.wait(rule.stall_s)
        self._reset()

    def _reset(self) -> None:
        self.close_connection = True
        sock = self.connection
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            # The buffered files hold references to the socket; detach closes the descriptor
            # now, which with SO_LINGER 0 sends the RST.
            fd = sock.detach()
            socket.socket(fileno=fd).close()

    def _body_chunks(self) -> Iterator[bytes]:
        length = self.headers.get("Content-Length")
        if length is not None:
            left = int(length)
            while left > 0:
                chunk = self.rfile.read(min(_CHUNK, left))
                if not chunk:
                    return
                left -= len(chunk)
                self._digest.update(chunk)
                yield chunk
        elif self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return
                data = self.rfile.read(size)
                self.rfile.readline()
                self._digest.update(data)
                yield data

    def _drain_body(self) -> None:
        for _ in self._body_chunks():
            pass

    def _forward(self) -> http.client.HTTPResponse:
        upstream = self.server.proxy.connect_upstream()
        upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        chunked = "Content-Length" not in self.headers and (
            self.headers.get("Transfer-Encoding", "").lower() == "chunked"
        )
        for name, value in self.headers.items():
            if name.lower() not in _HOP_BY_HOP:
                upstream.putheader(name, value)
        if chunked:
            upstream.putheader("Transfer-Encoding", "chunked")
        upstream.putheader("Connection", "close")
        upstream.endheaders()
        for chunk in self._body_chunks():
            upstream.send(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
        if chunked:
            upstream.send(b"0\r\n\r\n")
        return upstream.getresponse()

    def _relay(self, response: http.client.HTTPResponse, *, truncate: bool = False) -> None:
        headers = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
        declared = response.getheader("Content-Length")
        body: bytes | None = None
        if declared is None and self.command != "HEAD":
            body = response.read()
            headers.append(("Content-Length", str(len(body))))
        self.send_response_only(response.status, response.reason)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        if truncate:
            data = body if body is not None else response.read()
            self.wfile.write(data[: len(data) // 2])
            # A graceful close (FIN), so that the client reads the half it got, then EOF; an RST
            # would make its kernel discard that half.
            self.close_connection = True
            return
        if body is not None:
            self.wfile.write(body)
            return
        while chunk := response.read(_CHUNK):
            self.wfile.write(chunk)
