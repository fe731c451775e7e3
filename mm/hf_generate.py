"""Batched chat generation with transformers: the shared few-shot prefix computed once, samples of one prompt
prefilled once, finished rows dropped from the batch as they end, bf16 weights where the device does bf16.

Why: a teacher prompt is ~800 tokens of fixed exemplars and ~100 of question, and each question is sampled N
times; plain batched `generate` recomputes all of it for every row and keeps decoding rows that have ended.
Sampling follows llama.cpp's default chain (top-k 40, top-p, min-p 0.05, then temperature), so completions
made here and by the llama.cpp engine come from the same distribution.
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch

from mm.llm import Completion, Job, Sampling

TOP_K = 40  # llama.cpp's defaults, which the committed teacher data was sampled with
MIN_P = 0.05


def load_gguf_model(gguf: Path, cache_dir: Path):
    """An ordinary (trainable, saveable) HF model + tokenizer from a GGUF file, converted once into cache_dir."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not (cache_dir / "config.json").exists():
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        # A GGUF-loaded model is marked quantized and refuses save_pretrained until cleared.
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        partial = cache_dir.with_name(cache_dir.name + ".partial")
        model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        partial.rename(cache_dir)
    tokenizer = AutoTokenizer.from_pretrained(cache_dir)
    model = AutoModelForCausalLM.from_pretrained(cache_dir, dtype=torch.float32)
    return model, tokenizer


class _GrowingLayer:
    """A KV-cache layer written in place into buffers that grow in blocks (DynamicLayer concatenates: at batch 64
    and ~1,000 cached tokens that copy took 28 % of a decode step on this CPU)."""

    BLOCK = 256

    def __new__(cls):
        from transformers.cache_utils import DynamicLayer

        class GrowingLayer(DynamicLayer):
            def update(self, key_states, value_states, *args, **kwargs):
                if not self.is_initialized:
                    self.lazy_initialization(key_states, value_states)
                    self._buffers = None
                n, new = self.get_seq_length(), key_states.shape[-2]
                if self._buffers is None or n + new > self._buffers[0].shape[-2]:
                    capacity = n + new + cls.BLOCK
                    self._buffers = tuple(_grow(old, fresh, n, capacity) for old, fresh in
                                          zip((self.keys, self.values), (key_states, value_states), strict=True))
                keys, values = self._buffers
                keys[..., n : n + new, :] = key_states
                values[..., n : n + new, :] = value_states
                self.keys, self.values = keys[..., : n + new, :], values[..., : n + new, :]
                return self.keys, self.values

            def batch_select_indices(self, indices):
                self._buffers = tuple(b[indices] for b in self._buffers)
                n = self.get_seq_length()
                self.keys, self.values = (b[..., :n, :] for b in self._buffers)

            def batch_repeat_interleave(self, repeats):
                self.batch_select_indices(torch.arange(self.keys.shape[0]).repeat_interleave(repeats))

        return GrowingLayer()


def _grow(old: torch.Tensor, fresh: torch.Tensor, n: int, capacity: int) -> torch.Tensor:
    shape = (fresh.shape[0], fresh.shape[1], capacity, fresh.shape[3])
    buffer = torch.empty(shape, dtype=fresh.dtype, device=fresh.device)
    if n:
        buffer[..., :n, :] = old
    return buffer


def bf16_is_fast() -> bool:
    """bf16 pays on a GPU and on CPUs with AMX or AVX512-BF16 (3.5x fp32 matmuls); on an AVX2-only CPU torch's
    bf16 matmul ran at 1 GFLOP/s against fp32's 100 (measured on a 2-core AMD EPYC), so fp32 there."""
    if torch.cuda.is_available():
        return True
    cpuinfo = Path("/proc/cpuinfo")
    flags = cpuinfo.read_text() if cpuinfo.exists() else ""
    return "amx_bf16" in flags or "avx512_bf16" in flags


def job_seed(job: Job) -> int:
    """Each row's own RNG seed, from its cache key: a completion does not depend on which batch it landed in."""
    return int(hashlib.sha256(job.key.encode()).hexdigest()[:15], 16) ^ job.sampling.seed


def next_tokens(logits: torch.Tensor, samplings: Sequence[Sampling], generators: Sequence[torch.Generator]
                ) -> torch.Tensor:
    """One token per row: argmax at temperature 0, else top-k, top-p and min-p filtering, then temperature."""
    logits = logits.float()
    out = logits.argmax(dim=-1)
    sampled = [i for i, s in enumerate(samplings) if s.temperature > 0]
    if not sampled:
        return out
    top, index = logits[sampled].topk(min(TOP_K, logits.shape[-1]), dim=-1)  # sorted, descending
    probs = top.softmax(dim=-1)
    top_p = torch.tensor([samplings[i].top_p for i in sampled]).unsqueeze(1)
    drop = (probs.cumsum(dim=-1) - probs >= top_p) | (probs < MIN_P * probs[:, :1])
    temperature = torch.tensor([samplings[i].temperature for i in sampled]).unsqueeze(1)
    weights = (top / temperature).masked_fill(drop, float("-inf")).softmax(dim=-1)
    for row, i in enumerate(sampled):
        pick = torch.multinomial(weights[row], 1, generator=generators[i])
        out[i] = index[row, pick]
    return out


class HFGenerator:
    """Generates completions for chat jobs, `batch_size` rows decoded together (jobs of one prompt adjacent)."""

    def __init__(self, model, tokenizer, batch_size: int = 64, bf16: bool | None = None):
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = model.eval().to(self.device)
        if bf16_is_fast() if bf16 is None else bf16:  # bf16 weights: autocast would re-cast them at every token
            self.model.to(torch.bfloat16)
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        eos = model.generation_config.eos_token_id
        eos = {eos} if isinstance(eos, int) else set(eos or ())
        self.stop_ids = eos | {tokenizer.eos_token_id} - {None}
        self._prefix: tuple[tuple[int, ...], tuple] | None = None  # (token ids, per-layer (keys, values))

    @classmethod
    def from_gguf(cls, gguf: Path, cache_dir: Path, batch_size: int = 64) -> HFGenerator:
        return cls(*load_gguf_model(gguf, cache_dir), batch_size=batch_size)

    @property
    def dtype(self) -> str:
        return str(next(self.model.parameters()).dtype).removeprefix("torch.")

    def run(self, jobs: Sequence[Job]) -> Iterator[Completion]:
        for start in range(0, len(jobs), self.batch_size):
            yield from self._batch(jobs[start : start + self.batch_size])

    def _ids(self, job: Job) -> list[int]:
        text = self.tokenizer.apply_chat_template(list(job.messages), tokenize=False, add_generation_prompt=True)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, cache):
        out = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                         position_ids=positions.to(self.device), cache=cache, use_cache=True,
                         logits_to_keep=1)
        return out.logits[:, -1].cpu(), out.past_key_values

    def _prefix_cache(self, prefix: tuple[int, ...]):
        """Keys/values of the shared prefix, computed once per distinct prefix (the few-shot block)."""
        from transformers import DynamicCache

        n_layers = self.model.config.get_text_config().num_hidden_layers
        if prefix and (self._prefix is None or self._prefix[0] != prefix):
            ids = torch.tensor([prefix])
            _, cache = self._forward(ids, torch.ones_like(ids), torch.arange(len(prefix))[None], DynamicCache())
            self._prefix = (prefix, tuple((layer.keys, layer.values) for layer in cache.layers))
        cache = DynamicCache()
        cache.layers = [_GrowingLayer() for _ in range(n_layers)]
        for layer, (keys, values) in zip(cache.layers, self._prefix[1] if prefix else (), strict=False):
            layer.update(keys, values)
        return cache

    @torch.inference_mode()
    def _batch(self, jobs: Sequence[Job]) -> Iterator[Completion]:
        started = time.perf_counter()
        ids = [self._ids(job) for job in jobs]
        n_prefix = _common_prefix(ids)
        suffixes = list(dict.fromkeys(tuple(row[n_prefix:]) for row in ids))  # unique, in order
        row_of_suffix = torch.tensor([suffixes.index(tuple(row[n_prefix:])) for row in ids])

        # Prefill: the unique suffixes, left-padded, behind one copy each of the prefix.
        width = max(len(s) for s in suffixes)
        pad = self.tokenizer.pad_token_id or 0
        suffix_ids = torch.tensor([[pad] * (width - len(s)) + list(s) for s in suffixes])
        mask = torch.cat([torch.ones(len(suffixes), n_prefix, dtype=torch.long),
                          torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in suffixes])], dim=1)
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)[:, n_prefix:]
        cache = self._prefix_cache(tuple(ids[0][:n_prefix]))
        cache.batch_repeat_interleave(len(suffixes))
        logits, cache = self._forward(suffix_ids, mask, positions, cache)

        # Every job's row, then decode; a finished row leaves the batch.
        cache.batch_select_indices(row_of_suffix)
        logits, mask = logits[row_of_suffix], mask[row_of_suffix]
        position = positions[row_of_suffix, -1]
        samplings = [job.sampling for job in jobs]
        generators = [torch.Generator().manual_seed(job_seed(job)) for job in jobs]
        generated: list[list[int]] = [[] for _ in jobs]
        active = list(range(len(jobs)))
        while active:
            tokens = next_tokens(logits, [samplings[i] for i in active], [generators[i] for i in active])
            keep = []
            for row, (i, token) in enumerate(zip(active, tokens.tolist(), strict=True)):
                if token in self.stop_ids:
                    continue
                generated[i].append(token)
                if len(generated[i]) < samplings[i].max_tokens and not self._hit_stop(generated[i], samplings[i]):
                    keep.append(row)
            if not keep:
                break
            index = torch.tensor(keep)
            if len(keep) < len(active):
                cache.batch_select_indices(index)
            active = [active[row] for row in keep]
            mask = torch.cat([mask[index], torch.ones(len(keep), 1, dtype=torch.long)], dim=1)
            position = position[index] + 1
            logits, cache = self._forward(tokens[index, None], mask, position[:, None], cache)

        seconds = (time.perf_counter() - started) / len(jobs)
        for job, prompt, tokens in zip(jobs, ids, generated, strict=True):
            text = _cut_at_stop(self.tokenizer.decode(tokens, skip_special_tokens=True), job.sampling.stop)
            yield Completion(key=job.key, text=text, prompt_tokens=len(prompt), completion_tokens=len(tokens),
                             seconds=seconds, meta={"engine": "transformers", "dtype": self.dtype,
                                                     "shared_prefix_tokens": n_prefix})

    def _hit_stop(self, tokens: list[int], sampling: Sampling) -> bool:
        if not sampling.stop:
            return False
        tail = self.tokenizer.decode(tokens[-16:], skip_special_tokens=True)
        return any(stop in tail for stop in sampling.stop)


def _common_prefix(rows: Sequence[Sequence[int]]) -> int:
    """Length of the token prefix all rows share, leaving each row at least one token of its own."""
    n = min(len(row) for row in rows) - 1
    first = rows[0]
    for row in rows[1:]:
        n = next((i for i in range(n) if row[i] != first[i]), n)
    return max(n, 0)


def _cut_at_stop(text: str, stops: Sequence[str]) -> str:
    cuts = [text.index(stop) for stop in stops if stop in text]
    return text[: min(cuts)] if cuts else text
