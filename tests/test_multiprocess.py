"""`accelerate launch` with 2 CPU processes (gloo) trains to the same weights as one process with the same global batch,
and only the main process validates and writes."""
import json
import subprocess
import sys
import textwrap

import pytest
import torch

SCRIPT = textwrap.dedent('''
    import json, sys
    import torch
    from accelerate import PartialState
    from mm import methods, student, train
    from mm.config import DistillConfig, StudentConfig

    out = sys.argv[1]
    cfg_student = StudentConfig(kind="causal", name="tiny-llama", vocab_size=300)
    texts = [f"predict: question {i} explain: because {i}" for i in range(1, 9)] * 5
    torch.manual_seed(0)
    built = student.build_student(cfg_student, texts)
    pairs = [methods.Pair(f"q{i}", f"question {i}", str(i), f"because {i}") for i in range(1, 9)]  # equal lengths
    cfg = DistillConfig(epochs=2, batch_size=4, evals_per_epoch=2, patience=100, save_every=2, bf16=False, lr=1e-3)
    stage = methods.stage("cot", pairs, cfg.epochs, 0.5, True, cfg)
    calls = []
    result = train.fit(built, [stage], cfg, cfg_student, out, lambda s: calls.append(1) or 0.5, 0, run_key="mp")
    if PartialState().is_main_process:
        torch.save(built.model.state_dict(), f"{out}/weights.pt")
        json.dump({"steps": result["steps"], "validations": len(calls)}, open(f"{out}/facts.json", "w"))
    else:
        assert not calls, "only the main process validates"
''')


@pytest.mark.slow
def test_two_processes_train_the_same_weights_as_one(tmp_path):
    script = tmp_path / "fit.py"
    script.write_text(SCRIPT)
    subprocess.run([sys.executable, str(script), str(tmp_path / "one")], check=True, timeout=300)
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    subprocess.run([*launch, str(script), str(tmp_path / "two")], check=True, timeout=300)
    one, two = (torch.load(tmp_path / run / "weights.pt") for run in ("one", "two"))
    assert all(torch.allclose(one[k], two[k], atol=1e-5) for k in one)
    assert json.loads((tmp_path / "two" / "facts.json").read_text()) == {"steps": 4, "validations": 4}
    assert sorted(p.name for p in (tmp_path / "two" / "last").glob("step*/random_states_*.pkl")) == [
        "random_states_0.pkl", "random_states_1.pkl"]  # each process's RNG, for resume
