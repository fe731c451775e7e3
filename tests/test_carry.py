"""mm.carry: a checkpoint carried from a host of the other precision is recognised from the key the run itself
wrote, so `make study` resumes it in fp32 (recipes/fp32.yaml) or leaves it for a bf16 host instead of restarting it
(which would discard it)."""
import dataclasses
import json

import pytest
import yaml

from mm import carry, config, distill, train


@pytest.mark.parametrize("trained_bf16", [True, False])
def test_a_carried_checkpoint_resumes_in_its_own_precision(tmp_path, monkeypatch, capsys, smoke_params,
                                                           trained_bf16):
    recipe = yaml.safe_load(smoke_params.read_text())
    recipe["distill"]["bf16"] = "auto"  # the study's setting: each host picks
    params_file = tmp_path / "auto.yaml"
    params_file.write_text(yaml.safe_dump(recipe))
    out_dir = tmp_path / "run"

    def interrupted_fit(*args):  # the run's key, as train.fit stores it in its first checkpoint; then a stop
        (out_dir / train.LAST).mkdir(parents=True)
        (out_dir / train.LAST / "state.json").write_text(json.dumps({"run_key": args[7], "step": 20}))
        raise KeyboardInterrupt

    monkeypatch.setattr(distill, "bf16_is_fast", lambda: trained_bf16)
    monkeypatch.setattr(train, "fit", interrupted_fit)
    with pytest.raises(KeyboardInterrupt):
        distill.run_stage("svamp", "step_by_step", 1, "", "", params_file, out_dir=str(out_dir))
    args = [str(out_dir), "--dataset", "svamp", "--method", "step_by_step", "--seed", "1", "--params", str(params_file)]

    _, params, _ = config.load_run_params(params_file)  # as the run loaded them
    assert carry.carried_precision(out_dir, "svamp", "step_by_step", 1, params) is trained_bf16
    monkeypatch.setattr(distill, "bf16_is_fast", lambda: trained_bf16)
    assert carry.main(args) == 0  # a host of its precision resumes it
    monkeypatch.setattr(distill, "bf16_is_fast", lambda: not trained_bf16)
    assert carry.main(args) == (carry.OTHER_PRECISION if trained_bf16 else carry.FINISH_IN_FP32)
    assert ("left for a bf16 host" if trained_bf16 else "resumes here in fp32") in capsys.readouterr().out
    assert carry.main(args[:-3] + ["2"] + args[-2:]) == 0  # another seed's key: stale, restarts
    assert carry.main([str(tmp_path / "fresh")] + args[1:]) == 0  # nothing carried


def test_the_fp32_recipe_is_params_yaml_in_fp32():
    """What an fp32 host resolves params.yaml's `bf16: auto` to, so a run carried from it keeps its key under it."""
    params = config.load_params()
    assert params.distill.bf16 == "auto"
    assert config.load_params(carry.FP32_RECIPE) == dataclasses.replace(
        params, distill=dataclasses.replace(params.distill, bf16=False))
