"""OpenAIBackend against a scripted fake OpenAI-compatible server on 127.0.0.1 (faults, retries, key hygiene)."""
from __future__ import annotations

import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mm.llm import Job, Sampling
from mm.llm_openai import OpenAIBackend, OpenAIBackendError

KEY_ENV = "MM_TEST_OPENAI_KEY"
SECRET = "sk-test-SECRET-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c"


class FakeServer:
    """Per-request scripted faults, keyed by the job's last user message; the first unscripted request succeeds."""

    def __init__(self) -> None:
        self.script: dict[str, list[str]] = {}
        self.requests: list[dict] = []  # {"path", "headers", "body"} in arrival order
        self.outcomes: list[tuple[str, str]] = []  # (user message, action) in arrival order
        self.lock = threading.Lock()
        self.release = threading.Event()  # set at teardown: wakes handlers sleeping past the client timeout
        self.in_flight = 0
        self.max_in_flight = 0
        self.url = ""

    def next_action(self, user: str) -> str:
        with self.lock:
            seen = sum(1 for u, _ in self.outcomes if u == user)
            steps = self.script.get(user, [])
            action = steps[seen] if seen < len(steps) else "ok"
            self.outcomes.append((user, action))
            return action

    def count(self, user: str) -> int:
        with self.lock:
            return sum(1 for u, _ in self.outcomes if u == user)


def make_handler(fake: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

        def send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # client gave up (timeout) and closed the connection
                self.close_connection = True

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            with fake.lock:
                fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                fake.in_flight += 1
                fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
            user = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
            action = fake.next_action(user)
            try:
                self.respond(action, user, body)
            finally:
                with fake.lock:
                    fake.in_flight -= 1

        def respond(self, action: str, user: str, body: dict) -> None:
            if action == "ok":
                time.sleep(0.02)  # long enough for requests to overlap
                text = f"{user}|seed={body['seed']}"
                reply = {"choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                      "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": len(user), "completion_tokens": body["seed"] + 1}}
                self.send(200, json.dumps(reply).encode())
            elif action == "429":
                self.send(429, b'{"error": {"message": "rate limited"}}')
            elif action.startswith("429ra"):  # 429ra0: Retry-After: 0; 429ra30: far above backoff_max
                self.send(429, b'{"error": {"message": "slow down"}}', {"Retry-After": action[5:]})
            elif action in ("500", "503"):
                self.send(int(action), b'{"error": {"message": "server trouble"}}')
            elif action == "sleep":
                with fake.lock:  # the client abandons this request after its timeout
                    fake.in_flight -= 1
                fake.release.wait(1.5)
                with fake.lock:
                    fake.in_flight += 1
                self.send(200, b'{"choices": [{"message": {"content": "too late"}}]}')
            elif action == "slow":  # one generation at a time, 0.25 s each; the others wait their turn
                with fake.single_slot:
                    time.sleep(0.25)
                self.respond("ok", user, body)
            elif action == "badjson":
                self.send(200, b'{"choices": [{"message": {"content": "trunc')
            elif action == "nochoices":
                self.send(200, b'{"id": "cmpl-1", "object": "chat.completion"}')
            elif action == "401":  # like real servers, echo (here: all of) the key back
                msg = f"Incorrect API key provided: {self.headers.get('Authorization', '')}"
                self.send(401, json.dumps({"error": {"message": msg, "code": "invalid_api_key"}}).encode())
            else:
                raise AssertionError(action)

    return Handler


@pytest.fixture
def fake_server():
    fake = FakeServer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(fake))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield fake
    fake.release.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def job(i: int, stop: tuple[str, ...] = ()) -> Job:
    sampling = Sampling(temperature=0.3, top_p=0.9, max_tokens=64, seed=100 + i, stop=stop)
    messages = ({"role": "system", "content": "be brief"}, {"role": "user", "content": f"question {i}"})
    return Job(key=f"key-{i:02d}", messages=messages, sampling=sampling)


def backend(fake: FakeServer, **kw: object) -> OpenAIBackend:
    opts: dict = {"api_key_env": KEY_ENV, "concurrency": 4, "max_retries": 5, "timeout": 0.5,
                  "backoff_base": 0.001, "backoff_max": 0.05}
    return OpenAIBackend(fake.url, "teacher-model", **(opts | kw))


def test_twenty_jobs_with_faults_each_answered_once(fake_server, monkeypatch, caplog):
    monkeypatch.setenv(KEY_ENV, SECRET)
    fake_server.script = {
        "question 0": ["429"], "question 1": ["429ra0"], "question 2": ["500"], "question 3": ["503", "503"],
        "question 4": ["sleep"], "question 5": ["badjson"], "question 6": ["nochoices"],
        "question 7": ["500", "429ra30", "badjson", "nochoices"], "question 8": ["429ra30"],
    }
    jobs = [job(i, stop=("\n\n",) if i % 2 else ()) for i in range(20)]
    start = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="mm.llm_openai"):
        done = list(backend(fake_server).run(jobs))
    assert time.monotonic() - start < 10  # Retry-After: 30 is capped by backoff_max

    assert sorted(c.key for c in done) == [j.key for j in jobs]  # each exactly once
    for c in done:
        i = int(c.key[4:])
        assert c.text == f"question {i}|seed={100 + i}"
        assert (c.prompt_tokens, c.completion_tokens) == (len(f"question {i}"), 101 + i)
        assert c.meta == {"finish_reason": "stop"} and c.seconds > 0
    for i in range(20):
        assert fake_server.count(f"question {i}") == len(fake_server.script.get(f"question {i}", [])) + 1
    assert 2 <= fake_server.max_in_flight <= 4

    for r in fake_server.requests:
        assert r["path"] == "/v1/chat/completions"
        assert r["headers"]["Authorization"] == f"Bearer {SECRET}"
        b = r["body"]
        i = int(b["messages"][-1]["content"].split()[-1])
        assert (b["model"], b["temperature"], b["top_p"], b["max_tokens"], b["seed"], b["n"]) == (
            "teacher-model", 0.3, 0.9, 64, 100 + i, 1)
        assert b["messages"] == [dict(m) for m in jobs[i].messages]
        assert b.get("stop") == (["\n\n"] if i % 2 else None)

    retries = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(retries) == sum(len(v) for v in fake_server.script.values())
    assert SECRET not in caplog.text


def test_401_fails_at_once_without_leaking_key(fake_server, monkeypatch, caplog):
    monkeypatch.setenv(KEY_ENV, SECRET)
    fake_server.script = {"question 0": ["401"]}
    b = backend(fake_server, concurrency=1)
    assert SECRET not in repr(b) and SECRET not in str(b)
    with caplog.at_level(logging.DEBUG), pytest.raises(OpenAIBackendError) as err:
        list(b.run([job(0)]))
    message = str(err.value)
    assert "401" in message and "Incorrect API key" in message and "key-00" in message
    assert SECRET not in message and SECRET not in repr(err.value) and SECRET not in caplog.text
    assert fake_server.count("question 0") == 1  # no retries


def test_exhausted_retries_name_the_job_and_keep_other_completions(fake_server, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    fake_server.script = {"question 3": ["500"] * 50}
    jobs = [job(i) for i in range(12)]
    got = []
    with pytest.raises(OpenAIBackendError) as err:
        for c in backend(fake_server, max_retries=2).run(jobs):
            got.append(c)
    assert "key-03" in str(err.value) and "HTTP 500" in str(err.value) and "3 attempts" in str(err.value)
    assert fake_server.count("question 3") == 3
    answered = {f"key-{int(u.split()[-1]):02d}" for u, a in fake_server.outcomes if a == "ok"}
    assert sorted(c.key for c in got) == sorted(answered)  # every answer the server gave was yielded, once
    assert "key-03" not in answered and len(answered) == 11  # the failure stopped nothing else


def test_a_busy_single_slot_server_is_waited_for_not_retried(fake_server, monkeypatch):
    """Like llama.cpp's server with one slot: requests queue; a client that times out makes it compute twice."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    fake_server.single_slot = threading.Lock()
    fake_server.script = {f"question {i}": ["slow"] for i in range(6)}
    done = list(backend(fake_server, timeout=10.0).run([job(i) for i in range(6)]))
    assert sorted(c.key for c in done) == [f"key-{i:02d}" for i in range(6)]
    assert [fake_server.count(f"question {i}") for i in range(6)] == [1] * 6  # each generated once


def test_a_bad_key_stops_sending(fake_server, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    fake_server.script = {f"question {i}": ["401"] for i in range(12)}
    with pytest.raises(OpenAIBackendError, match="401"):
        list(backend(fake_server, concurrency=2).run([job(i) for i in range(12)]))
    assert len(fake_server.requests) <= 3  # what was in flight when the first 401 came back


def test_no_authorization_header_without_key(fake_server, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    b = backend(fake_server)
    assert list(b.run([])) == []
    (c,) = list(b.run([job(7)]))
    assert c.text == "question 7|seed=107"
    assert [r for r in fake_server.requests if "Authorization" in r["headers"]] == []


@pytest.fixture
def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nothing listens there: connections are refused


@pytest.mark.parametrize("where", ["closed port", "no scheme"])
def test_no_server_at_base_url_fails_fast_naming_it(where, closed_port_url, monkeypatch):
    """A wrong address is not a busy server: default retries and backoff, yet it fails at once (was minutes)."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    url = closed_port_url if where == "closed port" else closed_port_url.removeprefix("http://")
    start = time.monotonic()
    with pytest.raises(OpenAIBackendError) as err:
        list(OpenAIBackend(url, "teacher-model", api_key_env=KEY_ENV).run([job(i) for i in range(5)]))
    assert time.monotonic() - start < 10
    assert f"teacher.base_url={url!r}" in str(err.value)
