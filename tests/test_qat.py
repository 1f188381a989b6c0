"""QAT: the fake-quantized weights are PTQ's integers; QAT state stays out of the state_dict; the CLI."""

from __future__ import annotations


import numpy as np
import pytest
import torch

from neurodeploy.checkpoint import load_checkpoint, load_model
from neurodeploy.nir_export import export_graph
from neurodeploy.ir.graph import DeployGraph
from neurodeploy.passes import FLOW
from neurodeploy.qat import FakeQuant, fake_quant_weight, plan, weight_scale
from neurodeploy.quantized import check_calibration, quantize_deploy_graph

SIZE = (16, 16)
DATA = "/work/shared/data/train/Rain13K-samples"


def _as_chip_weight(w: torch.Tensor) -> torch.Tensor:
    """A VLIF-T compression (Conv3d, kernel (r², 1, 1)) as the chip's 1×1 conv on r² channel groups."""
    if w.dim() == 5:
        c_out, c_in, p = w.shape[:3]
        return w[:, :, :, 0, 0].permute(0, 2, 1).reshape(c_out, p * c_in, 1, 1)
    return w


@pytest.mark.parametrize("name", ["esdnet-tiny", "spikerain-tiny", "vlifnet-tiny"])
def test_fake_quantized_weights_are_ptqs_integer_weights(name):
    model, ckpt = load_model(name)
    model.eval()
    qplan = plan(model, ckpt.architecture, ckpt.config, SIZE)
    g = DeployGraph.from_nir(export_graph(model, SIZE, architecture=ckpt.architecture, config=ckpt.config))
    for _, run in FLOW:
        run(g)
    quantize_deploy_graph(g, check_calibration("examples/images/calib", SIZE))
    assert qplan.layers and {layer.module for layer in qplan.layers} == {
        n for n, e in g.info.quant.items() if e["kind"] == "conv"}
    adjusted = 0
    for layer in qplan.layers:
        q = g.info.quant[layer.module]
        conv = model.get_submodule(layer.module)
        bn = model.get_submodule(layer.bn) if layer.bn else None
        k = torch.ones(conv.weight.shape[0], dtype=torch.float64)
        if bn is not None:
            k = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
        k = k.view(-1, *([1] * (conv.weight.dim() - 1)))
        wq = _as_chip_weight(fake_quant_weight(conv, bn, layer).detach().double() * k * layer.gain)
        wf = _as_chip_weight(conv.weight.detach().double() * k * layer.gain)
        s = weight_scale(wf, layer.vth)
        assert s == pytest.approx(q["weight_scale"], rel=1e-9), layer.module
        mant = torch.round(wq / s).long().numpy()
        np.testing.assert_array_equal(mant, g.arrays[layer.module]["weight_mant"], err_msg=layer.module)
        assert np.abs(mant).max() == 127 or layer.vth is not None
        adjusted += s != float(wf.abs().max()) / 127
    if name == "esdnet-tiny":  # PTQ's threshold rule (a whole number of weight LSBs per threshold) was exercised
        assert adjusted > 0
    if name == "vlifnet-tiny":  # the compressions behind the VLIF gates are chip convs, a Conv3d among them
        assert any(isinstance(model.get_submodule(layer.module), torch.nn.Conv3d) for layer in qplan.layers)


def test_qat_state_stays_out_of_the_state_dict_and_gradients_pass_straight_through():
    model, ckpt = load_model("esdnet-tiny")
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    qplan = plan(model, ckpt.architecture, ckpt.config, SIZE)
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    plain = model(x).detach()
    fq = FakeQuant(model, qplan)
    with fq:
        assert list(model.state_dict()) == list(before)  # same keys, nothing added
        out = model(x)
        assert not torch.equal(out.detach(), plain)  # the rounding is in the forward pass
        out.mean().backward()
    conv = fq.convs[0]
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0
    assert "forward" not in conv.__dict__  # removed
    assert torch.equal(model(x).detach(), plain)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def _two_pairs(tmp_path):
    """A paired folder of the first two real pairs of DATA (loading the whole set would dominate the test)."""
    import shutil
    from pathlib import Path

    folder = tmp_path / "pairs"
    for side in ("rainy", "clean"):
        (folder / side).mkdir(parents=True)
        for f in sorted((Path(DATA) / side).iterdir())[:2]:
            shutil.copy(f, folder / side / f.name)
    return folder


def test_cli_finetune_qat_writes_a_checkpoint_that_loads_and_records_qat(tmp_path, run_cli):
    out = tmp_path / "esd-qat.pt"
    code, text, err = run_cli("finetune", "esdnet-tiny", "--qat", "--data", _two_pairs(tmp_path), "--out", out,
                              "--iters", "2", "--batch-size", "2", "--crop", "32", "--holdout", "0")
    assert code == 0, err
    ckpt = load_checkpoint(out)
    assert ckpt.meta["qat"]["layers"] > 0 and ckpt.meta["qat"]["iters"] == 2
    assert ckpt.meta["finetune"]["qat"] is True and "finetune esdnet-tiny --qat" in ckpt.meta["qat"]["command"]
    base = load_checkpoint("esdnet-tiny")
    assert set(ckpt.state_dict) == set(base.state_dict)  # loads everywhere the base does
    assert "history" in ckpt.meta  # the base's meta keys kept
    assert any(not torch.equal(ckpt.state_dict[k], base.state_dict[k]) for k in base.state_dict)


def test_finetune_keeps_the_best_held_out_state_the_unchanged_model_included(tmp_path):
    """With a held-out pair, the state kept is the best scored one; a learning rate that wrecks the
    model leaves the unchanged model as the best, so the checkpoint holds the base's weights."""
    from neurodeploy.qat import FinetuneConfig, finetune, split_holdout
    from neurodeploy.models.data import find_pairs

    pairs = _two_pairs(tmp_path)
    train, held = split_holdout(find_pairs(pairs), 0.5)
    assert len(train) == len(held) == 1 and set(map(str, train)) != set(map(str, held))
    out = tmp_path / "wrecked.pt"
    meta = finetune("esdnet-tiny", FinetuneConfig(data=[str(pairs)], iters=2, batch_size=2, crop=32, lr=0.5,
                                                  holdout=0.5, eval_every=1, holdout_crops=4, schedule="constant"), out)
    hist = meta["finetune"]["holdout_history"]
    assert [h["iter"] for h in hist] == [0, 1, 2]
    best = max(hist, key=lambda h: h["holdout_psnr_db"])
    assert meta["finetune"]["best_iter"] == best["iter"] == 0, hist  # lr 0.5 wrecks it: the unchanged model wins
    base, kept = load_checkpoint("esdnet-tiny"), load_checkpoint(out)
    assert all(torch.equal(kept.state_dict[k], base.state_dict[k]) for k in base.state_dict)
    assert kept.meta["qat"]["best_iter"] == 0 and kept.meta["qat"]["distill"] == 1.0


def test_cli_finetune_refuses_bad_data_in_one_line_and_writes_nothing(tmp_path, run_cli):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "x.pt"
    code, _, err = run_cli("finetune", "esdnet-tiny", "--qat", "--data", empty, "--out", out)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert not out.exists() and not list(tmp_path.glob("x.pt*"))
    code, _, err = run_cli("finetune", "esdnet-tiny", "--qat", "--data", DATA, "--out", out, "--iters", "0")
    assert code == 2 and "--iters" in err and not out.exists()
    for flag, value in (("--distill", "1.5"), ("--holdout", "1"), ("--schedule", "step")):
        code, _, err = run_cli("finetune", "esdnet-tiny", "--qat", "--data", DATA, "--out", out, flag, value)
        assert code == 2 and flag in err and len(err.strip().splitlines()) == 1 and not out.exists(), err




def test_card_deployment_section_is_replaced_not_duplicated():
    from neurodeploy.models.cards import DEPLOY_HEADING, deployment_lines, with_deployment

    row = {"test": "T", "images": 2, "float_psnr": 25.0, "float_ssim": 0.9, "ptq_psnr": 24.9, "ptq_ssim": 0.89,
           "ptq_cost_db": 0.1, "calib": "C", "qat": {"psnr": 24.95, "ssim": 0.9, "cost_db": 0.05, "float_psnr": 25.1,
                                                      "float_ssim": 0.91, "command": "neurodeploy finetune x --qat",
                                                      "wall_s": 3.0}}
    card = "# card\n\n## Evaluation\n\nrows\n\n## Notes\n\nkeep me\n"
    once = with_deployment(card, deployment_lines(row, "cmd"))
    row["ptq_psnr"] = 20.0
    twice = with_deployment(once, deployment_lines(row, "cmd"))
    assert once.count(DEPLOY_HEADING) == twice.count(DEPLOY_HEADING) == 1
    assert "| 24.90 |" not in twice and "| 20.00 |" in twice and "keep me" in twice and "## Evaluation" in twice


def test_card_of_several_seeds_states_mean_sd_and_verdict():
    from neurodeploy.models.cards import deployment_lines

    row = {"test": "T", "images": 2, "float_psnr": 25.0, "float_ssim": 0.9, "ptq_psnr": 24.9, "ptq_ssim": 0.89,
           "ptq_cost_db": 0.1, "calib": "C",
           "qat": {"psnr": 24.9, "ssim": 0.89, "cost_db": 0.1, "float_psnr": 25.0, "float_ssim": 0.9, "wall_s": 3.0,
                   "sd": {"psnr": 0.0, "cost_db": 0.0, "float_psnr": 0.0}, "seeds": [0, 1, 2], "kept_unchanged": 3,
                   "earns_its_place": False, "command": "neurodeploy finetune x --qat"}}
    text = "\n".join(deployment_lines(row, "cmd"))
    assert "mean ± sd of 3 seeds" in text and "3 of 3 seeds" in text and "**use PTQ**" in text
