"""The student: a small seq2seq or causal LM (from config or pretrained), its tokenizer, optional LoRA."""
from __future__ import annotations

import copy
import string
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
    T5Config,
    T5ForConditionalGeneration,
)

from mm import hub
from mm.config import StudentConfig
from mm.hf_generate import load_gguf_model
from mm.llm_local import MODEL_DIR, gguf_path

_T5_COMMON = {"feed_forward_proj": "gated-gelu", "tie_word_embeddings": False, "dropout_rate": 0.1}
T5_SHAPES: dict[str, dict[str, Any]] = {
    "t5-v1_1-tiny": dict(d_model=64, d_ff=128, num_layers=2, num_decoder_layers=2, num_heads=2, d_kv=32),  # tests
    "t5-v1_1-small": dict(d_model=512, d_ff=1024, num_layers=8, num_decoder_layers=8, num_heads=6, d_kv=64),
    "t5-v1_1-base": dict(d_model=768, d_ff=2048, num_layers=12, num_decoder_layers=12, num_heads=12, d_kv=64),
    "t5-v1_1-large": dict(d_model=1024, d_ff=2816, num_layers=24, num_decoder_layers=24, num_heads=16, d_kv=64),
}
for _shape in T5_SHAPES.values():
    _shape.update(_T5_COMMON)

TINY_LLAMA = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                  intermediate_size=128)
CAUSAL_FROM_CONFIG = ("tiny-llama",)
CAUSAL_GGUF = ("smollm2-135m", "qwen2.5-0.5b")  # offline GGUFs (mm.llm_local.LOCAL_MODELS)
# T5 convention: pad (0) is also the decoder start token; </s> ends every encoded text.
SPECIALS = {"seq2seq": ("<pad>", "</s>", "<unk>"), "causal": ("<pad>", "<eos>", "<bos>", "<unk>")}


class StudentError(ValueError):
    """The student name is neither a known from-config/offline model nor a loadable checkpoint."""


@dataclass
class Student:
    """A model with its tokenizer; kind is "seq2seq" or "causal"."""

    model: Any  # PreTrainedModel, or a peft PeftModel when LoRA is on
    tokenizer: PreTrainedTokenizerBase
    kind: str
    name: str

    def save(self, path: str | Path) -> Path:
        """Save model + tokenizer; LoRA adapters are merged into a copy so loading needs no peft."""
        path = Path(path)
        model = self.model
        if hasattr(model, "merge_and_unload"):
            model = copy.deepcopy(model).merge_and_unload()  # a copy: the live student keeps its adapters
        model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        return path


def train_tokenizer(texts: Iterable[str], vocab_size: int, kind: str) -> PreTrainedTokenizerFast:
    """A BPE tokenizer trained on the texts; digits are split one by one so numbers tokenize uniformly."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    if kind not in SPECIALS:
        raise ValueError(f"kind must be one of {sorted(SPECIALS)}, got {kind!r}")
    specials = SPECIALS[kind]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))  # BPE: training is deterministic (Unigram's is not)
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Metaspace(), pre_tokenizers.Digits(individual_digits=True)]
    )
    tok.decoder = decoders.Metaspace()
    alphabet = list(string.ascii_letters + string.digits + string.punctuation)  # never <unk> on plain ASCII
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(specials), initial_alphabet=alphabet, show_progress=False
    )
    tok.train_from_iterator(texts, trainer)
    if kind == "seq2seq":
        eos = tok.token_to_id("</s>")
        tok.post_processor = processors.TemplateProcessing(
            single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", eos)]
        )
        return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    # causal: like SmolLM2's tokenizer, add no special tokens; the training code appends eos to targets.
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>", unk_token="<unk>",
        padding_side="right",
    )


def build_student(cfg: StudentConfig, texts: Iterable[str] = ()) -> Student:
    """Build the configured student; from-config students get a tokenizer trained on texts (seed torch first)."""
    if cfg.kind == "seq2seq":
        model, tokenizer = _seq2seq(cfg, texts)
    elif cfg.kind == "causal":
        model, tokenizer = _causal(cfg, texts)
    else:
        raise StudentError(f"student.kind must be 'seq2seq' or 'causal', got {cfg.kind!r}")
    if cfg.lora_r > 0:
        model = _with_lora(model, cfg)
    return Student(model=model, tokenizer=tokenizer, kind=cfg.kind, name=cfg.name)


def load_student(path: str | Path, kind: str | None = None) -> Student:
    """Restore a Student.save folder; kind defaults to what the saved config says."""
    path = Path(path)
    if kind is None:
        kind = "seq2seq" if AutoConfig.from_pretrained(path).is_encoder_decoder else "causal"
    auto = AutoModelForSeq2SeqLM if kind == "seq2seq" else AutoModelForCausalLM
    model = auto.from_pretrained(path, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if kind == "causal":
        _causal_padding(tokenizer)
    return Student(model=model, tokenizer=tokenizer, kind=kind, name=str(path))


def count_parameters(model: torch.nn.Module) -> dict[str, int]:
    """Total and trainable parameter counts (LoRA: trainable is the adapters only)."""
    params = list(model.parameters())
    return {"total": sum(p.numel() for p in params), "trainable": sum(p.numel() for p in params if p.requires_grad)}


def _seq2seq(cfg: StudentConfig, texts: Iterable[str]) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    if cfg.name not in T5_SHAPES:
        return _pretrained(AutoModelForSeq2SeqLM, cfg.name, known=sorted(T5_SHAPES))
    tokenizer = train_tokenizer(texts, cfg.vocab_size, "seq2seq")
    config = T5Config(
        vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id, **T5_SHAPES[cfg.name],
    )
    model = T5ForConditionalGeneration(config)
    # Untied T5 inits lm_head with std 1, so logits are ~sqrt(d_model) too large: loss starts ~174, not ~ln(V).
    torch.nn.init.normal_(model.lm_head.weight, std=config.d_model**-0.5)
    model.generation_config.decoder_start_token_id = tokenizer.pad_token_id
    return model, tokenizer


def _causal(cfg: StudentConfig, texts: Iterable[str]) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    if cfg.name in CAUSAL_GGUF:
        gguf = gguf_path(cfg.name)
        # Same cache folder as the local teacher backend (mm.llm_local), so the GGUF is dequantised only once.
        model, tokenizer = load_gguf_model(gguf, MODEL_DIR / f"{gguf.stem}-hf")
    elif cfg.name in CAUSAL_FROM_CONFIG:
        tokenizer = train_tokenizer(texts, cfg.vocab_size, "causal")
        config = LlamaConfig(
            vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=True,
            max_position_embeddings=cfg.max_source_tokens + cfg.max_target_tokens, **TINY_LLAMA,
        )
        model = LlamaForCausalLM(config)
    else:
        model, tokenizer = _pretrained(AutoModelForCausalLM, cfg.name, known=[*CAUSAL_GGUF, *CAUSAL_FROM_CONFIG])
    _causal_padding(tokenizer)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def _causal_padding(tokenizer: PreTrainedTokenizerBase) -> None:
    # SmolLM2 has no distinct pad token: pad = eos, so labels must be masked by attention, not by pad id.
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"  # training layout; generation code switches to left itself


def _pretrained(auto: Any, name: str, known: list[str]) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A checkpoint path, or a hub id (mm.hub: the cache first, then the hub where it answers)."""
    def load() -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        return auto.from_pretrained(name, dtype=torch.float32), AutoTokenizer.from_pretrained(name)

    local = name.startswith(("/", ".", "~")) or Path(name).exists()
    try:
        return load() if local else hub.fetch("student.name", name, load)
    except (OSError, hub.HubError) as err:
        raise StudentError(f"student.name {name!r} is neither a known name {known} nor a loadable checkpoint path "
                           f"or hub id: {err}") from err


def _with_lora(model: PreTrainedModel, cfg: StudentConfig) -> Any:
    """Wrap in LoRA adapters on the attention query/value projections; the base weights are frozen."""
    from peft import LoraConfig, TaskType, get_peft_model

    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    if {"q", "v"} <= names:  # T5 family
        targets: list[str] | None = ["q", "v"]
    elif {"q_proj", "v_proj"} <= names:  # Llama-style (SmolLM2, Qwen, ...)
        targets = ["q_proj", "v_proj"]
    else:
        targets = None  # peft's default for the architecture
    task = TaskType.SEQ_2_SEQ_LM if cfg.kind == "seq2seq" else TaskType.CAUSAL_LM
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, target_modules=targets, task_type=task,
                      lora_dropout=0.0)
    return get_peft_model(model, lora)
