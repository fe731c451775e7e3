"""The batched teacher engine: same greedy tokens as plain `generate`, per-job sampling, llama.cpp's filters."""
import dataclasses

import pytest
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from mm import hf_generate, student
from mm.hf_generate import HFGenerator, next_tokens
from mm.llm import Job, Sampling

TEXTS = ["the answer is (3 + 4).", "premise: a cat sat. hypothesis: an animal sat.", "so the answer is neutral."] * 20
SHOTS = ({"role": "system", "content": "you reason step by step."},
         {"role": "user", "content": "what is 2 + 2?"}, {"role": "assistant", "content": "the answer is (2 + 2)."})


@pytest.fixture(scope="module")
def tiny():
    """A random Qwen2 (grouped-query attention, like the teacher) with a chat template."""
    tokenizer = student.train_tokenizer(TEXTS, 200, "causal")
    tokenizer.chat_template = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                               "{% if add_generation_prompt %}assistant:{% endif %}")
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, intermediate_size=128, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    return Qwen2ForCausalLM(config).eval(), tokenizer


def jobs(questions, samples: int, temperature: float, max_tokens: int = 12) -> list[Job]:
    return [Job(f"{q}-{k}", (*SHOTS, {"role": "user", "content": q}),
                Sampling(temperature=temperature, top_p=0.95, max_tokens=max_tokens, seed=k))
            for q in questions for k in range(samples)]


QUESTIONS = ["what is 3 + 4?", "a cat sat. did an animal sit?", "what is 10 / 2?", "premise: it rains. hypothesis: "
             "the ground is wet. which is it, entailment, neutral or contradiction?", "9 - 1?"]


@pytest.mark.parametrize("refill_at", [1, 3])
def test_greedy_matches_plain_generate_while_rows_come_and_go(tiny, refill_at):
    """Rows of different lengths end at different steps, ended rows ride along until `refill_at` of them have
    ended, then waiting prompts join the running batch (longer and shorter ones than those running)."""
    model, tokenizer = tiny
    batch = [dataclasses.replace(job, sampling=dataclasses.replace(job.sampling, max_tokens=2 + 5 * i % 11))
             for i, job in enumerate(jobs(QUESTIONS, 2, 0.0))]
    generator = HFGenerator(model, tokenizer, batch_size=4, bf16=False)
    generator.refill_at = refill_at
    got = {c.key: c for c in generator.run(batch)}
    assert got.keys() == {j.key for j in batch}
    for job in batch:
        text = tokenizer.apply_chat_template(list(job.messages), tokenize=False, add_generation_prompt=True)
        ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            out = model.generate(**ids, do_sample=False, max_new_tokens=job.sampling.max_tokens,
                                 pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
        new = out[0, ids["input_ids"].shape[1]:]
        new = new[new != tokenizer.eos_token_id]
        assert got[job.key].text == tokenizer.decode(new, skip_special_tokens=True)
        assert got[job.key].completion_tokens == len(new)
        assert got[job.key].meta["shared_prefix_tokens"] > 0


def test_a_sampled_completion_does_not_depend_on_its_batch(tiny):
    model, tokenizer = tiny
    generator = HFGenerator(model, tokenizer, batch_size=8, bf16=False)
    batch = jobs(["what is 3 + 4?", "what is 9 - 1?"], 3, 1.0)
    together = {c.key: c.text for c in generator.run(batch)}
    alone = {c.key: c.text for c in generator.run(batch[4:5])}
    assert alone[batch[4].key] == together[batch[4].key]
    assert len(set(together.values())) > 1  # samples of one prompt differ


def test_filters_follow_llama_cpp_top_p_and_min_p():
    probs = torch.tensor([[0.5, 0.3, 0.19, 0.01]])
    sampling = Sampling(temperature=1.0, top_p=0.7, max_tokens=1)
    generator = torch.Generator().manual_seed(0)
    seen = {int(next_tokens(probs.log(), [sampling], [generator])[0]) for _ in range(200)}
    assert seen == {0, 1}  # top-p 0.7 keeps the two most likely; min-p would drop the last anyway
    greedy = next_tokens(probs.log(), [Sampling(temperature=0.0, top_p=0.95, max_tokens=1)], [generator])
    assert greedy.tolist() == [0]


def test_common_prefix_leaves_every_row_a_token():
    assert hf_generate._common_prefix([[1, 2, 3, 4], [1, 2, 5]]) == 2
    assert hf_generate._common_prefix([[1, 2, 3], [1, 2, 3]]) == 2
    assert hf_generate._common_prefix([[7, 1], [8, 1]]) == 0
