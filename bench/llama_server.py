"""The teacher stage through the `openai` backend against a real OpenAI-compatible server: llama.cpp's
`llama_cpp.server` (one slot, so concurrent requests queue) serving the offline teacher on 127.0.0.1.

Needs `make llama-cpp` and the server extras (`.venv/bin/pip install "llama-cpp-python[server]==0.3.36"`).
Run: .venv/bin/python bench/llama_server.py [n_questions] [concurrency]. Writes bench/results/llama_server.json:
completions stored, retries the client made (each one a generation the server computed for nothing), wall time.
"""
from __future__ import annotations

import logging
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import record

from mm import teacher
from mm.cache import CompletionCache
from mm.llm_local import gguf_path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path("qwen2.5-0.5b")), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", "4096", "--n_threads", "2", "--model_alias", "qwen2.5-0.5b"]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(120):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    server.kill()
    raise RuntimeError("llama_cpp.server did not come up in 60 s")


def main(n_questions: int = 3, concurrency: int = 4) -> dict:
    port = free_port()
    server = start_server(port)
    retries = []
    handler = logging.Handler()
    handler.emit = lambda record: retries.append(record.getMessage())
    logging.getLogger("mm.llm_openai").addHandler(handler)
    try:
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            run = teacher.main(["svamp", "--out-dir", out, "--set", "teacher.backend=openai",
                                "--set", f"teacher.base_url=http://127.0.0.1:{port}/v1",
                                "--set", "teacher.model=qwen2.5-0.5b", "--set", f"teacher.concurrency={concurrency}",
                                "--set", f"teacher.n_questions={{svamp: {n_questions}}}",
                                "--set", "teacher.verdict_probe=2"])
            stored = len(CompletionCache(Path(out) / "completions.jsonl"))
            result = {"server": "llama_cpp.server (llama-cpp-python 0.3.36, one slot)", "concurrency": concurrency,
                      "n_questions": n_questions, "completions_stored": stored, "client_retries": len(retries),
                      "wall_seconds": round(time.perf_counter() - started, 1), "usage": run["usage"]}
    finally:
        server.terminate()
        server.wait(timeout=30)
    return record.save(result, "llama_server")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
