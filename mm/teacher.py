"""Teacher generation: N sampled CoTs and M self-evaluations per train question, cached and resumable."""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import shutil
import time
from collections.abc import Container, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from mm import ROOT, answers, config, prompts, runs, tasks
from mm.cache import CompletionCache
from mm.config import TeacherConfig
from mm.data import load_from_config
from mm.files import subsample, write_jsonl
from mm.llm import Backend, Completion, Job, Sampling

PROBE_SEED = 10_000  # sampling seeds of verdict-probe jobs, apart from CoT seeds


class ReplayMiss(LookupError):
    """The replay backend was asked for completions that are not in the cache."""


class ReplayBackend:
    """Answers only from the cache: generation already skips cached jobs, so any job reaching here is a miss."""

    name = "replay"

    def __init__(self, model: str, cache_path: Path):
        self.model = model
        self.cache_path = cache_path

    def run(self, jobs: Sequence[Job]) -> Iterator[Completion]:
        if jobs:
            keys = "\n  ".join(job.key for job in jobs[:20])
            more = f"\n  ... and {len(jobs) - 20} more" if len(jobs) > 20 else ""
            raise ReplayMiss(
                f"{len(jobs)} completion(s) missing from {self.cache_path} (replay never generates). "
                f"Regenerate with teacher.backend=local/openai, or restore the file. Missing keys:\n  {keys}{more}"
            )
        yield from ()


class PalmBackend:
    """The shipped PaLM-540B CoT of each question (the release's `palm_output`, or a task's own `rationale`), served as
    the completion of that question's prompt: no model, so the smoke profile and tests run the whole stage in
    seconds. It writes CoTs only; it cannot judge them."""

    name = "palm"
    judges = False

    def __init__(self, dataset: str, questions: Sequence[Mapping]):
        self.model = "PaLM-540B"
        self.by_turn = {prompts.user_turn(dataset, row["question"]): palm_cot(dataset, row) for row in questions}

    def run(self, jobs: Sequence[Job]) -> Iterator[Completion]:
        for job in jobs:
            text = self.by_turn.get(job.messages[-1]["content"])
            if text is None:
                raise ValueError("the palm backend answers only the CoT prompts of its questions, not evaluations")
            yield Completion(job.key, text)


def make_backend(cfg: TeacherConfig, cache_path: Path, dataset: str = "", questions: Sequence[Mapping] = ()) -> Backend:
    if cfg.backend == "palm":
        return PalmBackend(dataset, questions)
    if cfg.backend == "local":
        from mm.llm_local import LocalBackend

        return LocalBackend(cfg.model, engine=cfg.engine, batch_size=cfg.batch_size)
    if cfg.backend == "openai":
        from mm.llm_openai import OpenAIBackend

        return OpenAIBackend(cfg.base_url, cfg.model, api_key_env=cfg.api_key_env, concurrency=cfg.concurrency,
                             max_retries=cfg.max_retries, timeout=cfg.timeout)
    if cfg.backend == "replay":
        return ReplayBackend(cfg.model, cache_path)
    raise ValueError(f"teacher.backend={cfg.backend!r} has no completion backend")


def source_of(cfg: TeacherConfig) -> str:
    """Which generator a cache key refers to: replay looks up what `replay_of` generated. Not the openai base_url:
    the same server under another port or host name must not regenerate the cache (the model name tells teachers
    apart)."""
    return cfg.replay_of if cfg.backend == "replay" else cfg.backend


def teacher_name(cfg: TeacherConfig) -> str:
    """Who wrote the CoTs, as recorded in outputs and metrics."""
    return "palm:PaLM-540B" if cfg.backend == "palm" else f"{source_of(cfg)}:{cfg.model}"


def job_key(source: str, model: str, messages: Sequence[Mapping], sampling: Sampling, index: int) -> str:
    """Hash of generator, model, prompt, sampling params and sample index."""
    payload = [source, model, list(messages), dataclasses.asdict(sampling), index]
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:32]


def make_job(cfg: TeacherConfig, messages: tuple, index: int, seed_base: int = 0, max_tokens: int | None = None
             ) -> Job:
    sampling = Sampling(cfg.temperature, cfg.top_p, max_tokens or cfg.max_tokens,
                        seed=cfg.seed * 100_000 + seed_base + index)
    return Job(job_key(source_of(cfg), cfg.model, messages, sampling, index), messages, sampling)


def run_jobs(jobs: Sequence[Job], backend: Backend, cache: CompletionCache, desc: str) -> dict[str, Completion]:
    """Completions of all jobs: cached ones read back, the rest generated and stored one by one."""
    todo = list({job.key: job for job in jobs if job.key not in cache}.values())
    with tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc=desc, unit="call") as bar:
        for completion in backend.run(todo):
            cache.put(completion)
            bar.update()
    return {job.key: cache.get(job.key) for job in jobs}


def usage(completions: Sequence[Completion], generated_now: int, cfg: TeacherConfig) -> dict:
    """Calls, tokens, generation time and estimated price of the completions a run used (not the whole cache)."""
    prompt = sum(c.prompt_tokens for c in completions)
    completion = sum(c.completion_tokens for c in completions)
    return {
        "calls": len(completions),
        "calls_generated_now": generated_now,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "generation_seconds": round(sum(c.seconds for c in completions), 1),
        "estimated_cost_usd": round((prompt * cfg.price_per_mtok_in + completion * cfg.price_per_mtok_out) / 1e6, 4),
    }


def teacher_questions(dataset: str, train: Sequence[Mapping], cfg: TeacherConfig) -> list[Mapping]:
    """Train questions sent to the teacher (exemplars excluded): a seeded, nested subset of n_questions."""
    pool = _question_pool(dataset, train, cfg)
    n = cfg.n_questions.get(dataset)
    return pool if n is None or n >= len(pool) else subsample(pool, n, cfg.seed)


def generation_rank(dataset: str, train: Sequence[Mapping], cfg: TeacherConfig) -> dict[str, int]:
    """Each pool question's place in the seeded permutation behind `teacher_questions`. Generating in this order
    makes whatever an interrupted run finished exactly the questions of a smaller n_questions, so it replays."""
    pool = _question_pool(dataset, train, cfg)
    return {pool[i]["id"]: rank for rank, i in enumerate(np.random.default_rng(cfg.seed).permutation(len(pool)))}


def _question_pool(dataset: str, train: Sequence[Mapping], cfg: TeacherConfig) -> list[Mapping]:
    return [row for row in train if row["id"] not in tasks.get(dataset).exemplar_ids[: cfg.n_shots]]


def palm_cot(dataset: str, row: Mapping) -> str:
    """The shipped PaLM completion cut where it starts inventing the next few-shot example."""
    return row["palm_output"].split("\n\n")[0].strip()


def generate(dataset: str, train: Sequence[Mapping], cfg: TeacherConfig, out_dir: Path,
             cache_file: Path | None = None, seed_cache: Path | None = None) -> dict:
    """Write cots.jsonl and evals.jsonl for the teacher questions of `train` to out_dir, every completion going
    through the cache first (`cache_file`, out_dir/completions.jsonl by default; a new one starts as a copy of
    `seed_cache`, the committed cache, so a run by hand replays and resumes without touching it); returns run facts."""
    out_dir = Path(out_dir)
    cache_file = Path(cache_file or out_dir / "completions.jsonl")
    if seed_cache is not None and Path(seed_cache).exists() and not cache_file.exists():
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(seed_cache, cache_file)
    cache = CompletionCache(cache_file)
    cached_before = len(cache)
    started = time.perf_counter()
    questions = teacher_questions(dataset, train, cfg)
    backend = make_backend(cfg, cache.path, dataset, questions)  # loaded once, used by every step
    used: dict[str, Completion] = {}
    cots = _generate_cots(dataset, train, questions, cfg, backend, _Recording(cache, used))
    evals = _generate_evals(dataset, questions, cots, cfg, backend, _Recording(cache, used))
    probe = _probe_verdicts(questions, cots, cfg, backend, _Recording(cache, used))
    write_jsonl(out_dir / "cots.jsonl", cots)
    write_jsonl(out_dir / "evals.jsonl", evals)
    write_jsonl(out_dir / "verdict_probe.jsonl", probe)
    return {"n_questions": len(questions), "n_cots": len(cots), "n_evals": len(evals), "n_probe": len(probe),
            "cache_bad_lines": len(cache.bad_lines), "seconds": time.perf_counter() - started,
            "usage": usage(list(used.values()), len(cache) - cached_before, cfg)}


class _Recording:
    """The cache, noting every completion this run reads or writes (for `usage`)."""

    def __init__(self, cache: CompletionCache, used: dict[str, Completion]):
        self.cache, self.used = cache, used

    def __contains__(self, key: str) -> bool:
        return key in self.cache

    def put(self, completion: Completion) -> None:
        self.cache.put(completion)

    def get(self, key: str) -> Completion:
        self.used[key] = self.cache.get(key)
        return self.used[key]


def cot_record(dataset: str, row: Mapping, k: int, text: str, teacher: str, eval_mode: str,
               answer: str | None = None, **extra) -> dict:
    """One line of cots.jsonl: CoT k of question `row`, its answer (parsed from the text unless given) and gold."""
    task = tasks.get(dataset)
    parsed = answer if answer is not None else task.parse_answer(text, row["choices"])
    return {"id": row["id"], "k": k, "text": text, "answer": parsed, "parsed": parsed is not None,
            "correct": task.is_correct(parsed, row["answer"]), "gold": row["answer"],
            "teacher": teacher, "eval_mode": eval_mode, **extra}


def cot_jobs(dataset: str, train: Sequence[Mapping], questions: Sequence[Mapping],
             cfg: TeacherConfig) -> list[tuple[Mapping, int, Job]]:
    """(question, sample k, its job) for every CoT the teacher is asked to write about `questions`."""
    shots = prompts.exemplars(dataset, train, cfg.n_shots)
    return [(row, k, make_job(cfg, prompts.cot_messages(dataset, row["question"], shots), k))
            for row in questions for k in range(cfg.n_cots)]


def complete_questions(dataset: str, train: Sequence[Mapping], cfg: TeacherConfig, cache: Container[str]) -> int:
    """How many teacher questions have all their CoTs in `cache`: while a run is generating, those before it in
    generation order, so a replay of a smaller n_questions stops missing once this reaches it."""
    questions = teacher_questions(dataset, train, cfg)
    missing = {row["id"] for row, _, job in cot_jobs(dataset, train, questions, cfg) if job.key not in cache}
    return len(questions) - len(missing)


def _generate_cots(dataset, train, questions, cfg, backend, cache) -> list[dict]:
    who = teacher_name(cfg)
    shots = prompts.exemplars(dataset, train, cfg.n_shots)
    planned = cot_jobs(dataset, train, questions, cfg)
    rank = generation_rank(dataset, train, cfg)
    ordered = sorted(planned, key=lambda item: (rank[item[0]["id"]], item[1]))
    done = run_jobs([job for *_, job in ordered], backend, cache, f"{dataset} CoTs")
    records = [cot_record(dataset, row, k, done[job.key].text, who, cfg.eval_mode) for row, k, job in planned]
    if cfg.rationalize:
        records += _rationalize(dataset, questions, records, shots, cfg, backend, cache)
    return records


def _rationalize(dataset, questions, records, shots, cfg, backend, cache) -> list[dict]:
    """STaR: re-ask questions with no right CoT, giving the gold answer as a hint (index n_cots)."""
    solved = {r["id"] for r in records if r["correct"]}
    planned = [(row, make_job(cfg, prompts.cot_messages(dataset, row["question"], shots, hint=row["answer"]),
                              cfg.n_cots)) for row in questions if row["id"] not in solved]
    done = run_jobs([job for _, job in planned], backend, cache, f"{dataset} rationalize")
    return [cot_record(dataset, row, cfg.n_cots, done[job.key].text, teacher_name(cfg), cfg.eval_mode,
                       rationalized=True) for row, job in planned]


def _generate_evals(dataset, questions, cots, cfg, backend, cache) -> list[dict]:
    by_question: dict[str, list[dict]] = {}
    for record in cots:
        by_question.setdefault(record["id"], []).append(record)
    if cfg.eval_mode != "teacher":
        return [_gold_decided_eval(dataset, row, cot, by_question[row["id"]], j, cfg)
                for row in questions for cot in by_question.get(row["id"], []) for j in range(cfg.n_evals)]
    if not getattr(backend, "judges", True):
        raise ValueError(f"teacher.eval_mode=teacher needs a backend that judges; {backend.name} writes CoTs only")
    return _teacher_evals(questions, cots, range(cfg.n_evals), cfg, backend, cache, f"{dataset} self-evals")


def _teacher_evals(questions, cots, js, cfg, backend, cache, desc: str, mode: str | None = None) -> list[dict]:
    """The teacher's own critiques and verdicts of `cots` (teacher mode, and the verdict probe)."""
    rows = {row["id"]: row for row in questions}
    planned = [(cot, j, make_job(cfg, prompts.eval_messages(rows[cot["id"]]["question"], cot["text"]), j,
                                 seed_base=PROBE_SEED, max_tokens=cfg.eval_max_tokens)) for cot in cots for j in js]
    done = run_jobs([job for *_, job in planned], backend, cache, desc)
    return [eval_record(cot, j, done[job.key].text, mode or cfg.eval_mode) for cot, j, job in planned]


def _probe_verdicts(questions, cots, cfg, backend, cache) -> list[dict]:
    """Verdicts from gold (reference, gold_verdict): let the teacher judge a balanced sample of CoTs, so the report
    shows how well it could have judged them itself."""
    if cfg.eval_mode == "teacher" or not getattr(backend, "judges", True) or cfg.verdict_probe == 0:
        return []
    half = cfg.verdict_probe // 2
    right = [c for c in cots if c["correct"]][:half]
    wrong = [c for c in cots if c["parsed"] and not c["correct"]][: cfg.verdict_probe - len(right)]
    return _teacher_evals(questions, right + wrong, [0], cfg, backend, cache, "verdict probe", mode="teacher_probe")


def eval_record(cot: dict, j: int, text: str, eval_mode: str) -> dict:
    """One line of evals.jsonl: evaluation j of a CoT, its verdict parsed from the text, the CoT's true correctness."""
    return {"id": cot["id"], "k": cot["k"], "j": j, "text": text, "verdict": answers.parse_verdict(text),
            "cot_correct": cot["correct"], "eval_mode": eval_mode}



def _gold_decided_eval(dataset: str, row: Mapping, cot: dict, siblings: list[dict], j: int, cfg) -> dict:
    """Evaluation j of a CoT whose verdict is decided against gold, no model asked. gold_verdict's text states the
    CoT's own answer and the verdict only; reference's also states the gold answer and quotes a right reference CoT."""
    if cfg.eval_mode == "gold_verdict":
        text = prompts.gold_verdict_evaluation(cot["answer"], cot["correct"])
    else:
        text = prompts.reference_evaluation(cot["answer"], _reference_cot(dataset, row, cot, siblings, j),
                                            row["answer"], cot["correct"])
    return eval_record(cot, j, text, cfg.eval_mode)


def _reference_cot(dataset: str, row: Mapping, cot: dict, siblings: list[dict], j: int) -> str | None:
    """Reference mode's "correct solution": the question's other right samples, then PaLM-540B's shipped rationale
    when it is right, taken in turn by j (one evaluation per CoT: PaLM's only where no other sample is right)."""
    references = [s["text"] for s in siblings if s["correct"] and s["k"] != cot["k"]]
    palm, task = palm_cot(dataset, row), tasks.get(dataset)
    if task.is_correct(task.parse_answer(palm, row["choices"]), row["answer"]):
        references.append(palm)
    return references[j % len(references)] if references else None


def main(argv: Sequence[str] | None = None) -> dict:
    """`python -m mm.teacher DATASET [--teacher PROFILE] [--params FILE] [--set teacher.KEY=VALUE ...]`: the
    generation step of notebooks/10_teacher.ipynb. Its files (cache, cots, evals) go under --into or runs/scratch/,
    the cache starting as a copy of the committed one; --grow-cache appends to the committed cache instead (it is
    keyed: appending never changes an answer; how a pool grows in the background, `python -m mm.study pools`);
    --force writes the teacher stage's own files, as `dvc repro` would."""
    parser = argparse.ArgumentParser(prog="python -m mm.teacher", description=main.__doc__)
    parser.add_argument("dataset")
    parser.add_argument("--teacher", default=config.DEFAULT_TEACHER, help="a profile of params.yaml's teachers:")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--into", help="folder for the run's files (default: runs/scratch/<teacher>-<dataset>/)")
    parser.add_argument("--grow-cache", action="store_true", help="append to the committed completion cache")
    parser.add_argument("--force", action="store_true", help="write the teacher stage's committed files")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a params.yaml key (YAML value); repeatable")
    args = parser.parse_args(argv)
    params = config.load_teacher_params(args.params, args.teacher, config.parse_overrides(args.set))
    pool = runs.TeacherRun(args.teacher, args.dataset)
    where = runs.destination(pool, args.force, args.into)
    if args.grow_cache:
        where["cache_file"] = pool.cache_file
    train = list(load_from_config(args.dataset, params.data)["train"])
    run = generate(args.dataset, train, params.teacher, Path(where["out_dir"]), Path(where["cache_file"]),
                   seed_cache=ROOT / pool.cache_file)
    print(json.dumps(run))
    return run


if __name__ == "__main__":
    main()
