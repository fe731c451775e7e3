"""mm.carry: a checkpoint carried from a host of the other precision is recognised from the key the run itself
wrote, so `make study` leaves it for such a host instead of restarting it (which would discard it)."""
import json

import pytest
import yaml

from mm import carry, config, distill, train


@pytest.mark.parametrize("trained_bf16", [True, False])
def test_a_carried_checkpoint_is_left_for_a_host_of_its_precision(tmp_path, monkeypatch, capsys, smoke_params,
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
    assert carry.main(args) == carry.OTHER_PRECISION
    assert "left for a " + ("bf16" if trained_bf16 else "fp32") + " host" in capsys.readouterr().out
    assert carry.main(args[:-3] + ["2"] + args[-2:]) == 0  # another seed's key: stale, restarts
    assert carry.main([str(tmp_path / "fresh")] + args[1:]) == 0  # nothing carried
