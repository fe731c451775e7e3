"""Teacher backend for any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, llama.cpp, Ollama)."""
from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

import httpx

from mm.llm import Completion, Job

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 409, 429})  # plus every 5xx


FATAL_STATUS = frozenset({401, 403, 404})  # a bad key, base_url or model: every other request would fail too
UNREACHABLE_RETRIES = 1  # refused or unresolvable: one retry in case the server is restarting, then stop


class OpenAIBackendError(RuntimeError):
    """A job failed for good: a non-retryable HTTP error, or retries exhausted. Never contains the API key."""

    fatal = False


class _Fatal(OpenAIBackendError):
    """A failure no other request can escape (bad key, base_url or model): stop sending."""

    fatal = True


class _Retryable(Exception):
    """One failed attempt worth retrying; `retry_after` is the server's Retry-After in seconds, if any."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class _Unreachable(_Retryable):
    """No server at base_url (connection refused, unknown host): a backoff schedule would only delay the error."""


class _Stopped(Exception):
    """run() was abandoned (consumer stopped iterating); the job is given up quietly."""


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # HTTP-date form
        from email.utils import parsedate_to_datetime

        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, OverflowError):
        return None


def _server_message(response: httpx.Response) -> str:
    try:
        err = response.json().get("error")
        msg = err.get("message") if isinstance(err, dict) else err
        if msg:
            return str(msg)[:500]
    except (ValueError, AttributeError):
        pass
    return response.text[:500]


class OpenAIBackend:
    """Makes completions with POST {base_url}/chat/completions, at most `concurrency` requests in flight.

    `timeout` is how long one request may wait for its answer, queueing included: a busy single-slot server
    (llama.cpp's) answers requests in turn, and a client that gives up early makes it compute abandoned work.
    Retries (exponential backoff, full jitter, Retry-After honoured) on 408/409/429/5xx, timeouts, dropped connections
    and malformed bodies; `max_retries` retries after the first attempt. Other 4xx fail that job at once. A job that
    fails does not stop the others: every other job is still sent and yielded (so the caller caches it), then
    OpenAIBackendError names the failures. Only 401/403/404 (bad key, base_url or model) and a base_url where no
    server answers (refused or unknown host, after UNREACHABLE_RETRIES short retries) stop sending at once.
    """

    name = "openai"

    def __init__(self, base_url: str, model: str, api_key_env: str = "OPENAI_API_KEY", concurrency: int = 4,
                 max_retries: int = 8, timeout: float = 600.0, backoff_base: float = 1.0,
                 backoff_max: float = 60.0) -> None:
        if concurrency < 1 or max_retries < 0:
            raise ValueError("concurrency must be >= 1 and max_retries >= 0")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.timeout = timeout
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._api_key = os.environ.get(api_key_env) or None  # missing is fine for local servers

    def __repr__(self) -> str:
        key = "set" if self._api_key else "unset"
        return f"OpenAIBackend(base_url={self.base_url!r}, model={self.model!r}, {self.api_key_env}: {key})"

    def _scrub(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    def _payload(self, job: Job) -> dict:
        s = job.sampling
        payload: dict = {"model": self.model, "messages": [dict(m) for m in job.messages], "temperature": s.temperature,
                         "top_p": s.top_p, "max_tokens": s.max_tokens, "seed": s.seed, "n": 1}
        if s.stop:
            payload["stop"] = list(s.stop)
        return payload

    def _attempt(self, client: httpx.Client, job: Job) -> tuple[str, int, int, str | None]:
        """One request -> (text, prompt_tokens, completion_tokens, finish_reason); raises _Retryable or a final one."""
        try:
            response = client.post(f"{self.base_url}/chat/completions", json=self._payload(job))
        except httpx.UnsupportedProtocol as e:
            raise _Fatal(self._scrub(f"bad teacher.base_url={self.base_url!r}: {e}")) from None
        except httpx.ConnectError as e:  # refused, unknown host (a connect *timeout* is retried like any timeout)
            raise _Unreachable(f"{type(e).__name__}: {e}") from None
        except httpx.RequestError as e:  # timeouts, dropped connections, decoding errors
            raise _Retryable(type(e).__name__) from None
        status = response.status_code
        if status in RETRY_STATUS or status >= 500:
            raise _Retryable(f"HTTP {status}", _retry_after(response.headers))
        if status >= 400:
            msg = self._scrub(_server_message(response))
            error = _Fatal if status in FATAL_STATUS else OpenAIBackendError
            raise error(f"job {job.key}: HTTP {status} from {self.base_url}: {msg}")
        try:
            data = response.json()
            choice = data["choices"][0]
            text = choice["message"]["content"]
            if text is not None and not isinstance(text, str):
                raise TypeError("content is not a string")
            usage = data.get("usage") or {}
            return (text or "", int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0),
                    choice.get("finish_reason"))
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as e:
            raise _Retryable(f"malformed body ({type(e).__name__})") from None

    def _complete(self, client: httpx.Client, job: Job, stop: threading.Event) -> Completion:
        start = time.monotonic()
        unreachable = 0
        for attempt in range(self.max_retries + 1):
            if stop.is_set():
                raise _Stopped
            try:
                text, prompt_tokens, completion_tokens, finish = self._attempt(client, job)
            except _Retryable as e:
                unreachable += isinstance(e, _Unreachable)
                if unreachable > UNREACHABLE_RETRIES:
                    raise _Fatal(self._scrub(f"cannot connect to teacher.base_url={self.base_url!r}: {e}")) from None
                if attempt == self.max_retries:
                    msg = f"job {job.key}: gave up after {attempt + 1} attempts; last failure: {e}"
                    raise OpenAIBackendError(msg) from None
                delay = random.uniform(0, min(self.backoff_max, self.backoff_base * 2**attempt))
                if e.retry_after is not None:
                    delay = min(self.backoff_max, e.retry_after)
                if stop.is_set():
                    raise _Stopped from None
                log.warning("openai %s: %s; retry %d/%d in %.2fs", self.model, e, attempt + 1, self.max_retries, delay)
                stop.wait(delay)
                continue
            return Completion(key=job.key, text=text, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                              seconds=time.monotonic() - start, meta={"finish_reason": finish})
        raise AssertionError("unreachable")

    def run(self, jobs: Sequence[Job]) -> Iterator[Completion]:
        """Yield one Completion per job as each finishes (any order); failures are raised together at the end."""
        todo = iter(jobs)
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        timeout = httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0))
        client = httpx.Client(headers=headers, timeout=timeout, limits=limits)
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="mm-openai")
        stop = threading.Event()
        in_flight: set[Future[Completion]] = set()
        errors: list[Exception] = []
        try:
            while True:
                while not any(getattr(e, "fatal", True) for e in errors) and len(in_flight) < self.concurrency:
                    job = next(todo, None)
                    if job is None:
                        break
                    in_flight.add(pool.submit(self._complete, client, job, stop))
                if not in_flight:
                    break
                done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                for fut in done:
                    try:
                        completion = fut.result()
                    except Exception as e:  # raised after every other job has been yielded
                        log.warning("openai %s: %s", self.model, self._scrub(str(e)))
                        errors.append(e)
                        continue
                    yield completion
            if len(errors) == 1:
                raise errors[0]
            if errors:
                raise OpenAIBackendError(f"{len(errors)} jobs failed; first: {self._scrub(str(errors[0]))}")
        finally:
            stop.set()  # abandoned generator: queued jobs are cancelled, in-flight retries stop at their next check
            pool.shutdown(wait=not in_flight, cancel_futures=True)
            if not in_flight:
                client.close()
