"""How one GET to the X API goes over the network: the answer's status, headers and a bounded body.

:class:`~nostrweet.twitter.session.ApiSession` decides what to send and what an answer means; a sender
here only sends and reads. Two senders, one contract:
- :class:`AiohttpSender`, what nostrweet uses: an aiohttp session costs a sixth to a tenth of the CPU
  of an httpx client per request, most of a steady poll's cost (docs/PERFORMANCE.md, B7);
- :class:`HttpxSender`, through an httpx client (a client given an httpx transport, such as the
  tests' ``httpx.MockTransport``).
Both read at most ``max_bytes`` of a body (X is a hostile peer: :class:`AnswerTooLarge` past it, after
reading no more than that), send each request once (a retry is the session's, with a new
reservation), turn every network failure (connect, read, a dropped connection, a
timeout, an answer that is not HTTP) into :class:`TransportFailure`, follow redirects (the
``Authorization`` header is dropped on a redirect to another origin), and trust the same certificates
(httpx's TLS context). Media downloads do not come through here: they stream with the session's httpx
client under their own host and redirect rules (:mod:`nostrweet.archive.download`).
"""

from __future__ import annotations

import urllib.request
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

import httpx

if TYPE_CHECKING:
    import aiohttp

MAX_ANSWER_BYTES = 16 * 1024 * 1024
"""The most of an answer's body read (a full timeline page with every expansion is well under 1 MiB)."""

_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer: its status, its headers (names in any case) and its whole body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (any case), or None."""
        return self.headers.get(name)


class TransportFailure(Exception):
    """The request got no HTTP answer; ``kind`` names the underlying error (never the request)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class AnswerTooLarge(Exception):
    """The answer's body is longer than the limit; what was read of it is dropped."""


class Sender(Protocol):
    """Sends one GET and reads its answer."""

    async def get(
        self, url: str, params: Mapping[str, str], headers: Mapping[str, str], max_bytes: int
    ) -> Answer: ...

    async def aclose(self) -> None: ...


def _too_large(length: str | None, max_bytes: int) -> bool:
    return length is not None and length.isdigit() and int(length) > max_bytes


async def _read_bounded(chunks: AsyncIterator[bytes], max_bytes: int) -> bytes:
    """The whole body, or :class:`AnswerTooLarge` as soon as it passes ``max_bytes``."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise AnswerTooLarge
        parts.append(chunk)
    return b"".join(parts)


def env_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url`` (``HTTP(S)_PROXY``, ``ALL_PROXY``; none for a host
    in ``NO_PROXY``), as httpx reads it."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if proxy is None or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


class AiohttpSender:
    """Sends through one aiohttp session, made on first use (it belongs to the running event loop;
    aiohttp is imported then, so commands that send no API request do not load it)."""

    def __init__(self, *, timeout: float, connect_timeout: float, user_agent: str) -> None:
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None
        self._failures: tuple[type[BaseException], ...] = (TimeoutError,)
        # the proxy of each origin, read from the environment once (aiohttp's trust_env reads the
        # environment and ~/.netrc again for every request)
        self._proxies: dict[tuple[str, str], str | None] = {}

    def _open(self) -> aiohttp.ClientSession:
        import aiohttp

        self._failures = (aiohttp.ClientError, TimeoutError)
        connector = aiohttp.TCPConnector(ssl=httpx.create_ssl_context())
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=None, connect=self._timeout, sock_connect=self._connect_timeout, sock_read=self._timeout
            ),
            headers={"User-Agent": self._user_agent},
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        # aiohttp sends a GET again, at once, when the connection drops before the answer; that
        # request would be one the rate budget never reserved, so the session's own retry (a new
        # reservation, a backoff) does it instead
        self._session._retry_connection = False
        return self._session

    def _proxy(self, url: str) -> str | None:
        parts = urlsplit(url)
        origin = (parts.scheme, parts.netloc)
        if origin not in self._proxies:
            self._proxies[origin] = env_proxy(url)
        return self._proxies[origin]

    async def get(
        self, url: str, params: Mapping[str, str], headers: Mapping[str, str], max_bytes: int
    ) -> Answer:
        session = self._session or self._open()
        try:
            proxy = self._proxy(url)
            async with session.get(url, params=params, headers=headers, proxy=proxy) as response:
                if _too_large(response.headers.get("Content-Length"), max_bytes):
                    raise AnswerTooLarge
                body = await _read_bounded(response.content.iter_chunked(_CHUNK), max_bytes)
                return Answer(response.status, response.headers, body)
        except self._failures as exc:
            raise TransportFailure(exc.__class__.__name__) from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class HttpxSender:
    """Sends through an httpx client (closed by whoever made it)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def get(
        self, url: str, params: Mapping[str, str], headers: Mapping[str, str], max_bytes: int
    ) -> Answer:
        try:
            async with self._client.stream("GET", url, params=params, headers=headers) as response:
                if _too_large(response.headers.get("content-length"), max_bytes):
                    raise AnswerTooLarge
                body = await _read_bounded(response.aiter_bytes(_CHUNK), max_bytes)
                return Answer(response.status_code, response.headers, body)
        except httpx.TransportError as exc:
            raise TransportFailure(exc.__class__.__name__) from None

    async def aclose(self) -> None:
        return None
