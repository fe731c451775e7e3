"""Continuous-batching chat generation with transformers: the few-shot prefix all prompts share is computed once,
the samples of one prompt are prefilled once, a row that ends leaves the batch and a waiting prompt takes its place.

Why: a teacher prompt is ~800 tokens of fixed exemplars and ~100 of question, and each question is sampled N
times; plain batched `generate` recomputes all of it for every row and decodes until its longest row ends.
Rows keep their own positions (explicit position ids) and padding is masked, so rows that joined at different
times share one KV cache; columns no row attends to any more are dropped now and then.
Sampling follows llama.cpp's default chain (top-k 40, top-p, min-p 0.05, then temperature), so completions
made here and by the llama.cpp engine come from the same distribution.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

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


class GrowingLayer(DynamicLayer):
    """A KV-cache layer written in place into buffers with spare room (DynamicLayer concatenates at every token:
    at 64 rows and ~1,000 cached tokens that copy took 28 % of a decode step on a 2-core CPU); rows and
    columns can be selected, inserted and appended between steps."""

    ROOM = 256  # spare columns allocated at a time

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
            self._place(key_states, value_states)
            return self.keys, self.values
        n, new = self.keys.shape[-2], key_states.shape[-2]
        if n + new > self._buffers[0].shape[-2]:
            self._place(self.keys, self.values, room=new + self.ROOM)
        for buffer, states in zip(self._buffers, (key_states, value_states), strict=True):
            buffer[..., n : n + new, :] = states
        self.keys, self.values = (buffer[..., : n + new, :] for buffer in self._buffers)
        return self.keys, self.values

    def _place(self, keys: torch.Tensor, values: torch.Tensor, room: int = ROOM) -> None:
        n = keys.shape[-2]
        shape = (*keys.shape[:-2], n + room, keys.shape[-1])
        self._buffers = tuple(torch.empty(shape, dtype=t.dtype, device=t.device) for t in (keys, values))
        for buffer, states in zip(self._buffers, (keys, values), strict=True):
            buffer[..., :n, :] = states
        self.keys, self.values = (buffer[..., :n, :] for buffer in self._buffers)

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self._place(self.keys[indices], self.values[indices])

    def batch_repeat_interleave(self, repeats: int) -> None:
        if not self.is_initialized:  # no shared prefix: nothing cached yet
            return
        self._place(self.keys.repeat_interleave(repeats, dim=0), self.values.repeat_interleave(repeats, dim=0))

    def insert_columns(self, at: int, n: int) -> None:
        """n empty (to be masked) columns at column `at`."""
        blank = lambda t: t.new_zeros((*t.shape[:-2], n, t.shape[-1]))  # noqa: E731
        self._place(*(torch.cat([t[..., :at, :], blank(t), t[..., at:, :]], dim=-2) for t in (self.keys, self.values)))

    def keep_columns(self, columns: torch.Tensor) -> None:
        self._place(self.keys[..., columns, :], self.values[..., columns, :])

    def append_rows(self, other: GrowingLayer) -> None:
        self._place(torch.cat([self.keys, other.keys]), torch.cat([self.values, other.values]))


def _cache(n_layers: int, kv: Sequence[tuple[torch.Tensor, torch.Tensor]] = ()) -> DynamicCache:
    cache = DynamicCache()
    cache.layers = [GrowingLayer() for _ in range(n_layers)]
    for layer, (keys, values) in zip(cache.layers, kv, strict=False):
        layer.update(keys, values)
    return cache


@dataclass
class _Row:
    """One job being decoded."""

    job: Job
    prompt_tokens: int
    generator: torch.Generator
    tokens: list[int] = field(default_factory=list)
    seconds: float = 0.0  # its share of each step it took part in
    done: bool = False


@dataclass
class _Running:
    """The rows in flight: their shared KV cache, attention mask (cache columns + 1), next positions, last logits."""

    rows: list[_Row]
    cache: DynamicCache
    mask: torch.Tensor
    position: torch.Tensor
    logits: torch.Tensor

    def select(self, index: torch.Tensor) -> None:
        self.cache.batch_select_indices(index)
        self.rows = [self.rows[i] for i in index.tolist()]
        self.mask, self.position, self.logits = self.mask[index], self.position[index], self.logits[index]

    def insert_columns(self, at: int, n: int) -> None:
        for layer in self.cache.layers:
            layer.insert_columns(at, n)
        self.mask = torch.cat([self.mask[:, :at], self.mask.new_zeros(len(self.rows), n), self.mask[:, at:]], dim=1)

    def compact(self) -> None:
        """Drop the cache columns no row attends to (left by rows that have ended, or padding)."""
        used = self.mask.any(dim=0).nonzero().squeeze(1)
        if len(used) < self.mask.shape[1]:
            for layer in self.cache.layers:
                layer.keep_columns(used)
            self.mask = self.mask[:, used]

    def join(self, other: _Running, n_prefix: int) -> None:
        """Add other's rows: the shorter of the two gets empty columns after the shared prefix."""
        gap = self.mask.shape[1] - other.mask.shape[1]
        if gap:
            (other if gap > 0 else self).insert_columns(n_prefix, abs(gap))
        for mine, theirs in zip(self.cache.layers, other.cache.layers, strict=True):
            mine.append_rows(theirs)
        self.rows += other.rows
        self.mask = torch.cat([self.mask, other.mask])
        self.position = torch.cat([self.position, other.position])
        self.logits = torch.cat([self.logits, other.logits])


class HFGenerator:
    """Generates completions for chat jobs, up to `batch_size` rows decoded together; yields each as it ends."""

    def __init__(self, model, tokenizer, batch_size: int = 64, bf16: bool | None = None):
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = model.eval().to(self.device)
        if bf16_is_fast() if bf16 is None else bf16:  # bf16 weights: autocast would re-cast them at every token
            self.model.to(torch.bfloat16)
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.refill_at = max(1, batch_size // 4)  # ended rows that trigger a refill
        eos = model.generation_config.eos_token_id
        eos = {eos} if isinstance(eos, int) else set(eos or ())
        self.stop_ids = eos | {tokenizer.eos_token_id} - {None}
        self.n_layers = self.model.config.get_text_config().num_hidden_layers
        self.dtype = str(next(self.model.parameters()).dtype).removeprefix("torch.")

    @classmethod
    def from_gguf(cls, gguf: Path, cache_dir: Path, batch_size: int = 64) -> HFGenerator:
        return cls(*load_gguf_model(gguf, cache_dir), batch_size=batch_size)

    def _ids(self, job: Job) -> list[int]:
        text = self.tokenizer.apply_chat_template(list(job.messages), tokenize=False, add_generation_prompt=True)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, cache: DynamicCache
                 ) -> torch.Tensor:
        out = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                         position_ids=positions.to(self.device), cache=cache, use_cache=True, logits_to_keep=1)
        return out.logits[:, -1].float().cpu()

    @torch.inference_mode()
    def run(self, jobs: Sequence[Job]) -> Iterator[Completion]:
        """Completions of `jobs`, each yielded as soon as it ends (so a crash loses only rows in flight)."""
        if not jobs:
            return
        groups: dict[str, tuple[list[int], list[Job]]] = {}  # prompt -> (token ids, its jobs), in job order
        for job in jobs:
            key = json.dumps(job.messages, sort_keys=True)
            if key not in groups:
                groups[key] = (self._ids(job), [])
            groups[key][1].append(job)
        n_prefix = _common_prefix([ids for ids, _ in groups.values()])
        prefix = _cache(self.n_layers)
        if n_prefix:
            prefix_ids = next(iter(groups.values()))[0][:n_prefix]
            self._forward(torch.tensor([prefix_ids]), torch.ones(1, n_prefix, dtype=torch.long),
                          torch.arange(n_prefix)[None], prefix)
        waiting = deque(groups.values())
        running = self._refill(None, waiting, n_prefix, prefix)
        while running is not None:
            started = time.perf_counter()
            tokens, finished = self._sample(running)
            yield from (self._completion(row, n_prefix) for row in finished)
            alive = [row for row in running.rows if not row.done]
            if alive:
                running.mask = torch.cat([running.mask, running.mask.new_ones(len(running.rows), 1)], dim=1)
                running.logits = self._forward(tokens[:, None], running.mask, running.position[:, None],
                                               running.cache)
                running.position = running.position + 1
            for row in alive:
                row.seconds += (time.perf_counter() - started) / len(alive)
            if not alive or len(alive) <= len(running.rows) - self.refill_at:
                running = self._refill(running, waiting, n_prefix, prefix)

    def _refill(self, running: _Running | None, waiting: deque, n_prefix: int, prefix: DynamicCache
                ) -> _Running | None:
        """Drop ended rows and unused cache columns, then let waiting prompts take the free rows.

        Done every `refill_at` ended rows rather than at each one: every change of rows copies the whole cache,
        while an ended row left in place costs only its share of a decode step."""
        if running is not None:
            alive = [i for i, row in enumerate(running.rows) if not row.done]
            if alive:
                running.select(torch.tensor(alive))
                running.compact()
            else:
                running = None
        admitted, free = [], self.batch_size - (len(running.rows) if running else 0)
        while waiting and (len(waiting[0][1]) <= free or (running is None and not admitted)):
            admitted.append(waiting.popleft())
            free -= len(admitted[-1][1])
        if admitted:
            joining = self._prefill(admitted, n_prefix, prefix)
            if running is None:
                return joining
            running.join(joining, n_prefix)
        return running

    def _prefill(self, groups: Sequence[tuple[list[int], list[Job]]], n_prefix: int, prefix: DynamicCache
                 ) -> _Running:
        """Rows for the jobs of `groups`: each prompt's own tokens computed once behind the shared prefix."""
        suffixes = [ids[n_prefix:] for ids, _ in groups]
        width = max(len(s) for s in suffixes)
        pad = self.tokenizer.pad_token_id or 0
        ids = torch.tensor([[pad] * (width - len(s)) + s for s in suffixes])
        mask = torch.cat([torch.ones(len(groups), n_prefix, dtype=torch.long),
                          torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in suffixes])], dim=1)
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)[:, n_prefix:]
        cache = _cache(self.n_layers, [(layer.keys, layer.values) for layer in prefix.layers] if n_prefix else ())
        cache.batch_repeat_interleave(len(groups))
        logits = self._forward(ids, mask, positions, cache)
        rows = [_Row(job, n_prefix + len(s), torch.Generator().manual_seed(job_seed(job)))
                for s, (_, jobs) in zip(suffixes, groups, strict=True) for job in jobs]
        index = torch.tensor([g for g, (_, jobs) in enumerate(groups) for _ in jobs])  # each prompt's row, per job
        cache.batch_select_indices(index)
        return _Running(rows, cache, mask[index], positions[index, -1] + 1, logits[index])

    def _sample(self, running: _Running) -> tuple[torch.Tensor, list[_Row]]:
        """Next token of every row (ended rows get one too, ignored), and the rows that end with it."""
        live = [i for i, row in enumerate(running.rows) if not row.done]
        rows = [running.rows[i] for i in live]
        tokens = torch.full((len(running.rows),), self.tokenizer.pad_token_id or 0, dtype=torch.long)
        tokens[live] = next_tokens(running.logits[live], [r.job.sampling for r in rows], [r.generator for r in rows])
        finished = []
        for row, token in zip(rows, tokens[live].tolist(), strict=True):
            if token not in self.stop_ids:
                row.tokens.append(token)
                if len(row.tokens) < row.job.sampling.max_tokens and not self._hit_stop(row):
                    continue
            row.done = True
            finished.append(row)
        return tokens, finished

    def _hit_stop(self, row: _Row) -> bool:
        if not row.job.sampling.stop:
            return False
        tail = self.tokenizer.decode(row.tokens[-16:], skip_special_tokens=True)
        return any(stop in tail for stop in row.job.sampling.stop)

    def _completion(self, row: _Row, n_prefix: int) -> Completion:
        text = _cut_at_stop(self.tokenizer.decode(row.tokens, skip_special_tokens=True), row.job.sampling.stop)
        return Completion(key=row.job.key, text=text, prompt_tokens=row.prompt_tokens,
                          completion_tokens=len(row.tokens), seconds=row.seconds,
                          meta={"engine": "transformers", "dtype": self.dtype, "shared_prefix_tokens": n_prefix})


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
