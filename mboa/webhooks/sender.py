"""The HTTP side of a delivery, shared by a worker process: one httpx client (connection pool)
for plain-http targets and one per host name for TLS ones, and the per-endpoint cap on
concurrent deliveries (a semaphore in Redis shared by every worker)."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import time
import uuid
import weakref
import zlib

import httpx
from redis.asyncio import Redis

from mboa.config import Settings
from mboa.webhooks import metrics
from mboa.webhooks.targets import TargetRefused, resolve

RESPONSE_BODY_BYTES = 2048
"""How much of an answer the delivery log keeps."""
TLS_CLIENTS = 256
"""TLS clients kept (one per host name, least recently used first out)."""

# A sorted set per endpoint: members are running deliveries, scores their expiry (Redis time,
# ms). Expired members (a worker killed mid-attempt) are dropped before counting.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0
"""


@dataclasses.dataclass(frozen=True)
class AttemptResult:
    succeeded: bool
    http_status: int | None = None
    latency_ms: int | None = None
    response_body: str | None = None
    error: str | None = None


class Sender:
    def __init__(self, settings: Settings, redis_url: str) -> None:
        self.settings = settings
        self.timeout = settings.webhooks.timeout_seconds
        self.lease_ms = int((self.timeout + 5) * 1000)
        self.limit = settings.webhooks.max_in_flight_per_endpoint
        self.key_prefix = f"{settings.worker.queue_prefix}:webhooks:in_flight:"
        self.redis = Redis.from_url(redis_url)
        self._acquire = self.redis.register_script(_ACQUIRE)
        self.plain = self._client()
        self.tls: collections.OrderedDict[str, httpx.AsyncClient] = collections.OrderedDict()

    def _client(self) -> httpx.AsyncClient:
        # Never follow a redirect (a 3xx is a failure), never read proxy settings from the
        # environment: the request goes to the address that was checked, nowhere else.
        return httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(self.timeout),
            limits=httpx.Limits(max_connections=1000, max_keepalive_connections=200),
        )

    async def _tls_client(self, host: str) -> httpx.AsyncClient:
        # Pooled connections are keyed by address: a connection verified for one host name must
        # not carry another's request, so TLS targets get a pool per host name.
        client = self.tls.pop(host, None) or self._client()
        self.tls[host] = client
        while len(self.tls) > TLS_CLIENTS:
            _, evicted = self.tls.popitem(last=False)
            await evicted.aclose()
        return client

    async def acquire(self, endpoint_id: str) -> str | None:
        """A slot among the endpoint's concurrent deliveries, or None when all are taken."""
        token = uuid.uuid4().hex
        taken = await self._acquire(
            keys=[self.key_prefix + endpoint_id], args=[token, self.limit, self.lease_ms]
        )
        return token if taken == 1 else None

    async def release(self, endpoint_id: str, token: str) -> None:
        await self.redis.zrem(self.key_prefix + endpoint_id, token)

    async def post(
        self, url: str, *, livemode: bool, headers: dict[str, str], body: bytes
    ) -> AttemptResult:
        """One attempt, counted by outcome (`mboa.webhooks.metrics`)."""
        started = time.monotonic()
        result = await self._post(url, livemode=livemode, headers=headers, body=body)
        outcome = _outcome(result)
        metrics.DELIVERY_ATTEMPTS.labels(outcome).inc()
        metrics.DELIVERY_DURATION.labels(outcome).observe(time.monotonic() - started)
        return result

    async def _post(
        self, url: str, *, livemode: bool, headers: dict[str, str], body: bytes
    ) -> AttemptResult:
        """One attempt: resolve and check the target, POST, keep the start of the answer."""
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout):
                target = await resolve(url, livemode=livemode, resolve_within=self.timeout)
                client = (
                    await self._tls_client(target.sni_hostname)
                    if target.sni_hostname
                    else self.plain
                )
                extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
                request = client.build_request(
                    "POST",
                    target.url,
                    content=body,
                    headers={
                        **headers,
                        "host": target.host_header,
                        "content-type": "application/json",
                        "user-agent": "MboaPay-Webhooks/1.0",
                    },
                    extensions=extensions,
                )
                response = await client.send(request, stream=True)
                try:
                    kept = await _start_of_body(response)
                finally:
                    await response.aclose()
        except TargetRefused as exc:
            return AttemptResult(False, error=f"refused: {exc}"[:500])
        except (httpx.HTTPError, OSError, TimeoutError) as exc:
            latency = int((time.monotonic() - started) * 1000)
            if isinstance(exc, TimeoutError | httpx.TimeoutException):
                error = f"timed out after {self.timeout:g} s"
            else:
                error = f"{type(exc).__name__}: {exc}"
            return AttemptResult(False, latency_ms=latency, error=error[:500])
        latency = int((time.monotonic() - started) * 1000)
        status = response.status_code
        text = kept.decode("utf-8", errors="replace")
        succeeded = 200 <= status < 300
        problem: str | None = None
        if 300 <= status < 400:
            problem = "redirects are not followed"
        elif not succeeded:
            problem = f"HTTP {status}"
        return AttemptResult(succeeded, status, latency, text, problem)

    async def aclose(self) -> None:
        await self.plain.aclose()
        for client in self.tls.values():
            await client.aclose()
        self.tls.clear()
        await self.redis.aclose()


# zlib's wbits: a gzip stream (header and trailer), and a zlib or gzip stream (header detected)
# for `deflate`, which some servers send as raw deflate all the same (wbits < 0, tried second).
_WBITS = {
    "gzip": 16 + zlib.MAX_WBITS,
    "x-gzip": 16 + zlib.MAX_WBITS,
    "deflate": 32 + zlib.MAX_WBITS,
}


async def _start_of_body(response: httpx.Response) -> bytes:
    """The first RESPONSE_BODY_BYTES of the answer as its sender meant it: decoded when it is
    gzip- or deflate-encoded, inflating no more than that (a few compressed bytes can stand for
    gigabytes). Other encodings (br, zstd, several at once) are kept as received."""
    encoding = response.headers.get("content-encoding", "").strip().lower()
    wbits = _WBITS.get(encoding)
    decoder = zlib.decompressobj(wbits) if wbits is not None else None
    kept = bytearray()
    received = bytearray()  # the start of what came, for an answer that is not what it says
    first = True
    try:
        async for chunk in response.aiter_raw():
            if decoder is None:
                kept += chunk
            else:
                received += chunk[: RESPONSE_BODY_BYTES - len(received)]
                try:
                    # Output capped at what is still wanted; the input beyond is left unread.
                    kept += decoder.decompress(chunk, RESPONSE_BODY_BYTES - len(kept))
                except zlib.error:
                    if not (first and encoding == "deflate"):
                        raise
                    decoder = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, no header
                    kept += decoder.decompress(chunk, RESPONSE_BODY_BYTES - len(kept))
                if decoder.eof:
                    break
            first = False
            if len(kept) >= RESPONSE_BODY_BYTES:
                break
    except zlib.error:
        # Announced as compressed but not: what came, as received, says more than nothing.
        return bytes(received)
    return bytes(kept[:RESPONSE_BODY_BYTES])


def _outcome(result: AttemptResult) -> str:
    if result.succeeded:
        return "succeeded"
    if result.http_status is not None:
        return "redirect" if 300 <= result.http_status < 400 else "http_error"
    error = result.error or ""
    if error.startswith("refused"):
        return "refused"
    return "timeout" if error.startswith("timed out") else "connection_error"


_SENDERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Sender] = weakref.WeakKeyDictionary()


async def sender_for(settings: Settings) -> Sender:
    """The worker process's sender (one per event loop: a client belongs to its loop)."""
    loop = asyncio.get_running_loop()
    sender = _SENDERS.get(loop)
    if sender is not None and sender.settings is not settings:
        # Another worker in this loop with other settings (tests): not this sender.
        await _SENDERS.pop(loop).aclose()
        sender = None
    if sender is None:
        if settings.redis_url is None:
            raise RuntimeError("webhook deliveries need MBOA_REDIS_URL")
        sender = Sender(settings, settings.redis_url.get_secret_value())
        _SENDERS[loop] = sender
    return sender


async def close_sender() -> None:
    sender = _SENDERS.pop(asyncio.get_running_loop(), None)
    if sender is not None:
        await sender.aclose()
