import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mm import ROOT, answers, config, data, methods, prompts, runs, tasks, teacher
from mm.cache import CompletionCache
from mm.data import load_from_config
from mm.llm import Completion


@pytest.fixture(scope="module")
def benchmarks():
    return {name: data.load_benchmark(name) for name in tasks.builtin()}


@pytest.mark.parametrize("name", tasks.builtin())
def test_no_valid_or_test_example_enters_a_prompt(benchmarks, name):
    splits = benchmarks[name]
    train = list(splits["train"])
    shots = prompts.exemplars(name, train, 4)
    cfg = config.TeacherConfig(n_questions={name: 50})
    questions = teacher.teacher_questions(name, train, cfg)
    held_out = [row["question"] for split in ("valid", "test") for row in splits[split]]
    text = "\n".join(m["content"] for q in questions[:5] for m in prompts.cot_messages(name, q["question"], shots))
    assert not [q for q in held_out if q in text]
    assert not {s["id"] for s in shots} & {q["id"] for q in questions}


def test_exemplars_must_come_from_the_train_split_given(benchmarks):
    with pytest.raises(prompts.PromptError, match="not in the train split"):
        prompts.exemplars("svamp", list(benchmarks["svamp"]["valid"]), 4)


def test_svamp_exemplar_cot_ends_with_an_equation_that_parses(benchmarks):
    svamp = tasks.get("svamp")
    for shot in prompts.exemplars("svamp", list(benchmarks["svamp"]["train"]), 4):
        cot = prompts.exemplar_cot("svamp", shot)
        assert cot.endswith(").") and svamp.is_correct(svamp.parse_answer(cot), shot["answer"])


def test_reference_evaluation_ends_with_the_verdict_decided_in_code():
    text = prompts.reference_evaluation("5", "2 + 2 = 4. The answer is (2 + 2).", "4", correct=False)
    assert answers.parse_verdict(text) == "wrong" and "2 + 2 = 4" in text


def test_gold_verdict_evaluation_states_the_given_answer_and_the_verdict_only():
    assert prompts.gold_verdict_evaluation("5", correct=False) == (
        "The given solution reaches the answer 5. Evaluation result: the given answer is wrong.")
    assert answers.parse_verdict(prompts.gold_verdict_evaluation(None, correct=False)) == "wrong"
    assert answers.parse_verdict(prompts.gold_verdict_evaluation("(b) cage", correct=True)) == "correct"


class _ScriptedTeacher:
    """A fake teacher with right and wrong CoTs: every third question it gets wrong in every sample, the others right
    in its even samples only. As a judge it is lenient, calling every CoT correct."""

    name = "scripted"

    def __init__(self, dataset: str, questions):
        task = tasks.get(dataset)
        self.endings = {}  # the user turn of a question -> (right ending or None, wrong ending)
        for i, row in enumerate(questions):
            wrong = [o for o in task.options(row) if not task.is_correct(o, row["answer"])]
            wrong = wrong or [f"({row['answer']} + 1)"]  # a number task: one more than gold
            right = None if i % 3 == 0 else task.answer_sentence(row)
            self.endings[prompts.user_turn(dataset, row["question"])] = right, f"So the answer is {wrong[0]}."

    def run(self, jobs):
        for job in jobs:
            prompt, k = job.messages[-1]["content"], job.sampling.seed
            if prompt.startswith("Question:"):
                yield Completion(job.key, "Every step holds. Evaluation result: the given answer is correct.")
                continue
            right, wrong = self.endings[prompt]
            yield Completion(job.key, f"Sample {k} weighs up the question. {right if right and k % 2 == 0 else wrong}")


def _generate_scripted(monkeypatch, tmp_path, dataset: str, train, eval_mode: str, verdict_probe: int = 0):
    """teacher.generate with the scripted teacher as its backend (the backend named in the config is never made);
    returns the questions, CoTs and evaluations written."""
    cfg = config.TeacherConfig(backend="openai", n_cots=3, n_questions={dataset: 24}, eval_mode=eval_mode,
                               verdict_probe=verdict_probe)
    monkeypatch.setattr(teacher, "make_backend", lambda _cfg, _path, name, questions: _ScriptedTeacher(name, questions))
    teacher.generate(dataset, train, cfg, tmp_path)
    read = lambda name: [json.loads(line) for line in (tmp_path / name).read_text().splitlines()]  # noqa: E731
    return teacher.teacher_questions(dataset, train, cfg), read("cots.jsonl"), read("evals.jsonl")


GOLD_STATED, PALM_QUOTED, COT_QUOTED = "the gold answer stated", "PaLM-540B's rationale quoted", "a teacher CoT quoted"


def _leaks(dataset: str, pair: methods.Pair, row, cots) -> set[str]:
    """What a self-evaluation target holds beyond the verdict: the gold answer as such (or in a wrong verdict's
    text, where the CoT did not reach it), PaLM's shipped rationale, or the text of any teacher CoT."""
    target, found = pair.rationale, set()
    gold_word = re.compile(rf"(?<![\w.]){re.escape(row['answer'])}(?![\w.])")
    if "correct answer is" in target.lower() or (pair.answer == "wrong" and gold_word.search(target)):
        found.add(GOLD_STATED)
    palm_texts = [teacher.palm_cot(dataset, row), row["palm_rationale"].strip()]
    if any(text and text in target for text in palm_texts):
        found.add(PALM_QUOTED)
    if any(cot["text"].strip() in target for cot in cots if cot["id"] == row["id"]):
        found.add(COT_QUOTED)
    return found


@pytest.mark.parametrize("dataset", tasks.builtin())
@pytest.mark.parametrize(("eval_mode", "expected"), [("gold_verdict", set()),
                                                     ("reference", {GOLD_STATED, PALM_QUOTED, COT_QUOTED})])
def test_mind_mirror_self_evaluation_targets_leak_gold_and_palm_only_in_reference_mode(
        benchmarks, monkeypatch, tmp_path, dataset, eval_mode, expected):
    train = list(benchmarks[dataset]["train"])
    questions, cots, evals = _generate_scripted(monkeypatch, tmp_path, dataset, train, eval_mode)
    stage = methods.build_stages("mind_mirror", dataset, questions, cots, evals, config.DistillConfig())[0]
    assert stage.name == "self_eval" and {p.answer for p in stage.pairs} == {"correct", "wrong"}
    by_id = {row["id"]: row for row in questions}
    leaks = set().union(*(_leaks(dataset, pair, by_id[pair.id], cots) for pair in stage.pairs))
    assert leaks == expected
    assert all(e["verdict"] == ("correct" if e["cot_correct"] else "wrong") for e in evals)


def test_teacher_mode_trains_on_the_teachers_own_verdicts(benchmarks, monkeypatch, tmp_path):
    train = list(benchmarks["svamp"]["train"])
    questions, cots, evals = _generate_scripted(monkeypatch, tmp_path, "svamp", train, "teacher", verdict_probe=4)
    assert not (tmp_path / "verdict_probe.jsonl").read_text()  # the teacher judges every CoT: nothing to probe
    assert {e["eval_mode"] for e in evals} == {"teacher"} and len(evals) == len(cots)
    assert {e["verdict"] for e in evals} == {"correct"} and not all(e["cot_correct"] for e in evals)
    stage = methods.build_stages("mind_mirror", "svamp", questions, cots, evals, config.DistillConfig())[0]
    assert {(p.answer, p.rationale) for p in stage.pairs} == {
        ("correct", "Every step holds. Evaluation result: the given answer is correct.")}


def test_teacher_mode_refuses_a_backend_that_cannot_judge(benchmarks, tmp_path):
    cfg = config.TeacherConfig(backend="palm", eval_mode="teacher", n_cots=1, n_questions={"svamp": 2})
    with pytest.raises(ValueError, match="needs a backend that judges"):
        teacher.generate("svamp", list(benchmarks["svamp"]["train"]), cfg, tmp_path)


@pytest.mark.parametrize("dataset", tasks.builtin())
def test_committed_teacher_outputs_replay_byte_for_byte_under_their_own_eval_mode(root, tmp_path, dataset):
    pool = runs.TeacherRun(config.DEFAULT_TEACHER, dataset)
    committed = root / pool.out_dir
    (tmp_path / "completions.jsonl").write_bytes((root / pool.cache_file).read_bytes())
    params = config.load_params()
    eval_mode = json.loads((committed / "evals.jsonl").read_text().split("\n", 1)[0])["eval_mode"]
    cfg = dataclasses.replace(params.teacher, backend="replay", eval_mode=eval_mode)
    teacher.generate(dataset, list(data.load_from_config(dataset, params.data)["train"]), cfg, tmp_path)
    for name in ("cots.jsonl", "evals.jsonl", "verdict_probe.jsonl"):
        assert (tmp_path / name).read_bytes() == (committed / name).read_bytes(), name


def test_replay_miss_names_the_missing_keys(tmp_path, benchmarks):
    cfg = config.TeacherConfig(backend="replay", n_cots=2, n_questions={"svamp": 2}, verdict_probe=0)
    with pytest.raises(teacher.ReplayMiss) as err:
        teacher.generate("svamp", list(benchmarks["svamp"]["train"]), cfg, tmp_path)
    train = list(benchmarks["svamp"]["train"])
    shots = prompts.exemplars("svamp", train, cfg.n_shots)
    first = teacher.teacher_questions("svamp", train, cfg)[0]
    key = teacher.make_job(cfg, prompts.cot_messages("svamp", first["question"], shots), 0).key
    assert "4 completion(s) missing" in str(err.value) and key in str(err.value)


class _EchoServer(ThreadingHTTPServer):
    """OpenAI-compatible stub: a deterministic CoT per (prompt, seed), slow enough to be killed mid-run."""

    daemon_threads = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        time.sleep(0.05)
        seed = body.get("seed", 0)
        text = f"Some steps for seed {seed}. The answer is ({seed % 3} + 1)."
        if "Proposed solution" in body["messages"][-1]["content"]:
            text = f"Looks fine. Evaluation result: the given answer is {'correct' if seed % 2 else 'wrong'}."
        payload = json.dumps({"choices": [{"message": {"content": text}, "finish_reason": "stop"}],
                              "usage": {"prompt_tokens": 10, "completion_tokens": 5}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def echo_server():
    server = _EchoServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


GENERATE = """
import sys
from pathlib import Path
from mm import config, data, teacher
cfg = config.TeacherConfig(backend="openai", base_url=sys.argv[1], model="stub", concurrency=1, n_cots=3,
                           n_questions={"svamp": 6}, verdict_probe=4)
teacher.generate("svamp", list(data.load_benchmark("svamp")["train"]), cfg, Path(sys.argv[2]))
"""


def _run(url: str, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", GENERATE, url, str(out)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env={**os.environ, "OPENAI_API_KEY": ""})


@pytest.mark.slow
def test_generation_killed_mid_run_resumes_to_the_same_records(echo_server, tmp_path):
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    assert _run(echo_server, reference).wait(timeout=120) == 0
    victim = _run(echo_server, resumed)
    cache_file = resumed / "completions.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not cache_file.exists() or len(cache_file.read_text().splitlines()) < 7):
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    done_before = len(cache_file.read_text().splitlines())
    assert 7 <= done_before < 22, "the kill should land mid-run (18 CoTs + 4 probe calls in all)"
    restart = _run(echo_server, resumed)
    assert restart.wait(timeout=120) == 0, restart.stderr.read().decode()
    for name in ("cots.jsonl", "evals.jsonl", "verdict_probe.jsonl"):
        assert (resumed / name).read_text() == (reference / name).read_text()
    keys = [json.loads(line)["key"] for line in cache_file.read_text().splitlines()]
    assert len(keys) == len(set(keys)) == 22


def test_committed_local_cache_keys_are_unchanged():
    """data/completions/*/*.jsonl are looked up by key: every CoT job of params.yaml's teacher must hit."""
    params = config.load_params(ROOT / "params.yaml")
    train = list(load_from_config("svamp", params.data)["train"])
    shots = prompts.exemplars("svamp", train, params.teacher.n_shots)
    cached = CompletionCache(ROOT / runs.TeacherRun(config.DEFAULT_TEACHER, "svamp").cache_file)
    for cfg in (params.teacher, dataclasses.replace(params.teacher, backend="local")):
        questions = teacher.teacher_questions("svamp", train, cfg)
        keys = [teacher.make_job(cfg, prompts.cot_messages("svamp", row["question"], shots), k).key
                for row in questions for k in range(cfg.n_cots)]
        assert keys[10] == "d39c769978737775e5fa1ab4d540a87d"  # chal-789, CoT 0: the first line of the file
        assert len(keys) == 3580 and all(key in cached for key in keys)


def test_a_cache_made_through_one_base_url_is_reused_through_another(echo_server, tmp_path):
    train = list(data.load_benchmark("svamp")["train"])
    cfg = config.TeacherConfig(backend="openai", base_url=echo_server, model="stub", concurrency=1, n_cots=2,
                               n_questions={"svamp": 3}, verdict_probe=2)
    assert teacher.generate("svamp", train, cfg, tmp_path)["usage"]["calls_generated_now"] == 8
    cots = (tmp_path / "cots.jsonl").read_text()
    nothing_there = dataclasses.replace(cfg, base_url="http://127.0.0.1:9/v1")  # a request would fail
    assert teacher.generate("svamp", train, nothing_there, tmp_path)["usage"]["calls_generated_now"] == 0
    assert (tmp_path / "cots.jsonl").read_text() == cots


def test_usage_counts_the_run_not_the_whole_cache(echo_server, tmp_path):
    train = list(data.load_benchmark("svamp")["train"])
    cfg = config.TeacherConfig(backend="openai", base_url=echo_server, model="stub", concurrency=1, n_cots=2,
                               n_questions={"svamp": 4}, verdict_probe=0)
    first = teacher.generate("svamp", train, cfg, tmp_path)["usage"]
    assert (first["calls"], first["calls_generated_now"], first["completion_tokens"]) == (8, 8, 40)
    smaller = dataclasses.replace(cfg, n_questions={"svamp": 1})
    again = teacher.generate("svamp", train, smaller, tmp_path)["usage"]
    assert (again["calls"], again["calls_generated_now"], again["completion_tokens"]) == (2, 0, 10)


def test_generation_order_makes_every_finished_prefix_a_smaller_n_questions(benchmarks):
    train = list(benchmarks["cqa"]["train"])
    cfg = config.TeacherConfig(n_questions={"cqa": 40})
    rank = teacher.generation_rank("cqa", train, cfg)
    for n in (1, 7, 40):
        smaller = dataclasses.replace(cfg, n_questions={"cqa": n})
        assert {row["id"] for row in teacher.teacher_questions("cqa", train, smaller)} == {
            qid for qid, r in rank.items() if r < n}


def test_evaluations_sample_up_to_eval_max_tokens_and_cots_keep_their_keys():
    messages = ({"role": "user", "content": "Question: 1 + 1?"},)
    before = config.TeacherConfig()
    longer = dataclasses.replace(before, eval_max_tokens=400)
    assert teacher.make_job(longer, messages, 0).key == teacher.make_job(before, messages, 0).key  # CoT jobs
    probe = teacher.make_job(longer, messages, 0, max_tokens=longer.eval_max_tokens)
    assert probe.sampling.max_tokens == 400 and probe.key != teacher.make_job(before, messages, 0).key
    assert teacher.make_job(before, messages, 0, max_tokens=before.eval_max_tokens).sampling.max_tokens == 200
