"""Student building: tokenizer, tiny T5 / tiny Llama from config, save/load, LoRA merge, clear errors."""
import math
import os
import warnings

import pytest
import torch
from transformers import AutoTokenizer, PreTrainedModel

import mm
from mm.config import StudentConfig
from mm.student import T5_SHAPES, StudentError, build_student, count_parameters, load_student, train_tokenizer

TEXTS = [
    "Question: Tom has 12 apples and buys 345 more. How many? Answer: 12 + 345 = 357. The answer is 357.",
    "Premise: A cat sits on the mat. Hypothesis: An animal sits. The answer is entailment.",
    "Q: Where do you keep milk? Answer Choices: (a) fridge (b) oven. The answer is (a).",
] * 10
KINDS = [("seq2seq", "t5-v1_1-tiny"), ("causal", "tiny-llama")]


def _student(kind: str, name: str, lora_r: int = 0):
    torch.manual_seed(0)
    return build_student(StudentConfig(kind=kind, name=name, vocab_size=200, lora_r=lora_r, lora_alpha=8), TEXTS)


def _logits(student) -> torch.Tensor:
    tok, model = student.tokenizer, student.model.eval()
    enc = tok(["Tom has 12 apples.", "A cat sits."], return_tensors="pt", padding=True)
    extra = {"decoder_input_ids": torch.zeros_like(enc.input_ids[:, :3])} if student.kind == "seq2seq" else {}
    with torch.no_grad():
        return model(**enc, **extra).logits


@pytest.mark.parametrize("kind", ["seq2seq", "causal"])
def test_tokenizer_round_trip_and_digits(kind, tmp_path):
    tok = train_tokenizer(TEXTS, 200, kind)
    pieces = [p for p in tok.convert_ids_to_tokens(tok("12345", add_special_tokens=False).input_ids) if p != "▁"]
    assert pieces == list("12345")
    tok.save_pretrained(tmp_path)
    back = AutoTokenizer.from_pretrained(tmp_path)
    text = "Tom has 12 apples. The answer is 357."
    assert back(text).input_ids == tok(text).input_ids
    assert back.decode(back(text).input_ids, skip_special_tokens=True) == text
    assert back.pad_token_id == 0 and back.unk_token is not None
    if kind == "seq2seq":  # T5 convention: pad 0 (decoder start), </s> 1 appended, <unk> 2
        assert (back.eos_token, back.eos_token_id, back.unk_token_id) == ("</s>", 1, 2)
        assert back("7").input_ids[-1] == 1
    else:
        assert back.eos_token == "<eos>" and back.bos_token == "<bos>"


def test_t5_shapes():
    assert T5_SHAPES["t5-v1_1-base"]["d_model"] == 768 and T5_SHAPES["t5-v1_1-large"]["num_layers"] == 24
    assert all(s["feed_forward_proj"] == "gated-gelu" and not s["tie_word_embeddings"] for s in T5_SHAPES.values())


@pytest.mark.parametrize(("kind", "name"), KINDS)
def test_build_forward_loss_and_save_load(kind, name, tmp_path):
    student = _student(kind, name)
    tok, model = student.tokenizer, student.model
    assert model.config.vocab_size == len(tok)
    enc = tok(["What is 12 + 345?"], return_tensors="pt")
    labels = tok(["The answer is 357."], return_tensors="pt").input_ids if kind == "seq2seq" else enc.input_ids
    loss = model(**enc, labels=labels).loss
    assert torch.isfinite(loss)
    assert loss.item() < 2 * math.log(len(tok))  # untied T5 without the lm_head init starts far above
    if kind == "seq2seq":
        assert model.config.decoder_start_token_id == tok.pad_token_id == 0
        assert model.generation_config.decoder_start_token_id == 0
    else:
        assert tok.padding_side == "right"
    before = _logits(student)
    student.save(tmp_path / "s")
    back = load_student(tmp_path / "s")  # kind inferred from the saved config
    assert back.kind == kind
    assert torch.equal(_logits(back), before)
    assert back.tokenizer("12 apples").input_ids == tok("12 apples").input_ids


@pytest.mark.parametrize(("kind", "name"), KINDS)
def test_lora_trains_adapters_and_saves_merged(kind, name, tmp_path):
    student = _student(kind, name, lora_r=4)
    counts = count_parameters(student.model)
    assert 0 < counts["trainable"] < counts["total"]
    with torch.no_grad():  # lora_B starts at zero: make the adapters matter so the merge is tested
        for n, p in student.model.named_parameters():
            if "lora_B" in n:
                p.normal_(std=0.5)
    before = _logits(student)
    student.save(tmp_path / "s")
    assert hasattr(student.model, "peft_config")  # the live student keeps its adapters
    back = load_student(tmp_path / "s", kind)
    assert isinstance(back.model, PreTrainedModel) and not hasattr(back.model, "peft_config")
    assert not any("lora" in n for n in back.model.state_dict())
    assert torch.allclose(_logits(back), before, atol=1e-4)


@pytest.fixture
def no_hub(monkeypatch):
    """mm's own default (the user set nothing), and a hub that does not answer: no test waits on the network."""
    monkeypatch.setattr("mm.USER_HUB_ENV", {})
    monkeypatch.setattr("mm.hub.reachable", lambda endpoint, timeout: False)


def test_a_lora_student_warns_nothing_that_names_this_machines_paths():
    """Executed notebooks are committed: a warning from site-packages would carry this machine's path into them."""
    with warnings.catch_warnings(record=True) as caught:
        mm.silence_path_warnings()  # as `import mm` leaves them in a notebook's kernel (pytest resets filters)
        _student("causal", "tiny-llama", lora_r=4)
    assert [str(w.message) for w in caught if "site-packages" in w.filename] == []


@pytest.mark.parametrize(("kind", "name"), [("seq2seq", "t5-v1_1-huge"), ("causal", "no-such-model")])
def test_unknown_name_raises_clear_error(kind, name, no_hub):
    with pytest.raises(StudentError, match=f"{name}.*does not answer"):
        build_student(StudentConfig(kind=kind, name=name))


def test_missing_path_raises_clear_error_without_asking_the_hub(tmp_path, monkeypatch):
    monkeypatch.setattr("mm.hub.require", lambda *args: pytest.fail("a path never goes to the hub"))
    with pytest.raises(StudentError, match="t5-v1_1-small"):  # the message lists the known shapes
        build_student(StudentConfig(kind="seq2seq", name=str(tmp_path / "missing")))


def test_a_hub_id_with_the_hub_turned_off_by_the_user_fails_at_once_naming_the_fix(monkeypatch):
    monkeypatch.setattr("mm.USER_HUB_ENV", {"HF_HUB_OFFLINE": "1"})
    monkeypatch.setattr("mm.hub.reachable", lambda endpoint, timeout: pytest.fail("the user said offline"))
    with pytest.raises(StudentError, match="student.name.*export them as 0"):
        build_student(StudentConfig(kind="seq2seq", name="google/t5-v1_1-base"))


def test_anli_from_the_hub_names_its_setting_when_the_hub_does_not_answer(no_hub):
    from mm import data, hub

    with pytest.raises(hub.HubError, match="data.source.*does not answer"):
        data.load_benchmark("anli1", source="hub")


def test_the_paper_recipe_names_each_setting_it_needs_the_hub_for(no_hub):
    from mm import config, data, hub

    params = config.load_params("recipes/paper.yaml")
    with pytest.raises(StudentError, match="google/t5-v1_1-base.*does not answer"):
        build_student(params.student)
    with pytest.raises(hub.HubError, match="data.source"):
        data.load_from_config("anli1", params.data)


def test_a_profile_that_needs_the_hub_turns_it_on_where_mm_had_turned_it_off(monkeypatch):
    import huggingface_hub.constants

    from mm import hub

    monkeypatch.setattr("mm.USER_HUB_ENV", {})
    monkeypatch.setattr("mm.hub.reachable", lambda endpoint, timeout: True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    for name in hub.OFFLINE_VARS:
        monkeypatch.setenv(name, "1")

    def load():  # stands in for from_pretrained: not in the cache, so it needs the hub
        if huggingface_hub.constants.HF_HUB_OFFLINE:
            raise OSError("not in the cache and the hub is off")
        return "snapshot"

    assert hub.fetch("student.name", "google/t5-v1_1-base", load) == "snapshot"
    assert all(os.environ[name] == "0" for name in hub.OFFLINE_VARS)


def test_a_user_who_turned_the_hub_on_gets_the_loaders_own_error(monkeypatch):
    from mm import hub

    monkeypatch.setattr("mm.USER_HUB_ENV", {"HF_HUB_OFFLINE": "0"})
    monkeypatch.setattr("mm.hub.require", lambda *args: pytest.fail("already online: nothing to turn on"))
    with pytest.raises(OSError, match="no such repo"):
        hub.fetch("student.name", "org/missing", lambda: (_ for _ in ()).throw(OSError("no such repo")))


def test_a_cached_or_local_load_needs_no_hub(monkeypatch):
    from mm import hub

    monkeypatch.setattr("mm.hub.require", lambda *args: pytest.fail("found locally: the hub stays off"))
    assert hub.fetch("student.name", "org/cached", lambda: "from the cache") == "from the cache"


def test_a_local_t5_checkpoint_loads_trains_saves_and_reloads(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # a user who turned the hub on: a local path still loads offline
    torch.manual_seed(0)
    build_student(StudentConfig(kind="seq2seq", name="t5-v1_1-tiny", vocab_size=300), TEXTS).save(tmp_path / "t5")
    student = build_student(StudentConfig(kind="seq2seq", name=str(tmp_path / "t5")))
    batch = student.tokenizer(["predict: 2 + 2"], return_tensors="pt")
    labels = student.tokenizer(["4"], return_tensors="pt")["input_ids"]
    loss = student.model(**batch, labels=labels).loss
    loss.backward()
    torch.optim.SGD(student.model.parameters(), lr=0.1).step()
    reloaded = load_student(student.save(tmp_path / "trained"), "seq2seq")
    with torch.no_grad():
        assert reloaded.model(**batch, labels=labels).loss < loss
