"""Batched chat generation with transformers: left-padded batches, bf16 autocast on CPU and GPU."""
from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch

from mm.llm import Completion, Job


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


class HFGenerator:
    """Generates completions for chat jobs in left-padded batches."""

    def __init__(self, model, tokenizer, batch_size: int = 8):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.batch_size = batch_size
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model.to(self.device)

    @classmethod
    def from_gguf(cls, gguf: Path, cache_dir: Path, batch_size: int = 8) -> HFGenerator:
        return cls(*load_gguf_model(gguf, cache_dir), batch_size=batch_size)

    def run(self, jobs: Sequence[Job]) -> Iterator[Completion]:
        for start in range(0, len(jobs), self.batch_size):
            yield from self._batch(jobs[start : start + self.batch_size])

    @torch.inference_mode()
    def _batch(self, jobs: Sequence[Job]) -> Iterator[Completion]:
        started = time.perf_counter()
        prompts = [self.tokenizer.apply_chat_template(list(j.messages), tokenize=False, add_generation_prompt=True)
                   for j in jobs]
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        s = jobs[0].sampling
        torch.manual_seed(s.seed)  # one seed per batch: batches are fixed by job order, so runs repeat
        with torch.autocast(self.device, dtype=torch.bfloat16):
            out = self.model.generate(
                **enc, do_sample=s.temperature > 0, temperature=s.temperature or None, top_p=s.top_p,
                max_new_tokens=s.max_tokens, pad_token_id=self.tokenizer.pad_token_id,
            )
        new = out[:, enc["input_ids"].shape[1] :]
        seconds = (time.perf_counter() - started) / len(jobs)
        for job, tokens, mask in zip(jobs, new, enc["attention_mask"], strict=True):
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            n_out = int((tokens != self.tokenizer.pad_token_id).sum())
            yield Completion(key=job.key, text=text, prompt_tokens=int(mask.sum()), completion_tokens=n_out,
                             seconds=seconds, meta={"engine": "transformers"})
