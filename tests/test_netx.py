"""lava-dl netx HDF5 in, and lava-dl's own netx loader as an executor (issue 30).

The files are written here by slayer's own ``export_hdf5`` from SLAYER networks trained a few
iterations on synthetic spikes (``tests/fixtures/slayer_nets.py``); ``netx`` runs them through
``lava.lib.dl.netx.hdf5.Network`` on Lava's CPU simulator, independently of our lowering.
"""

from __future__ import annotations

import json
import re

import h5py
import numpy as np
import pytest

import neurodeploy as nd
from neurodeploy.errors import NeurodeployError
from neurodeploy.ir import read_deploy_graph

from ndfixtures import slayer_nets as sn

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


@pytest.fixture(scope="module")
def dense(tmp_path_factory):
    """The trained CUBA dense net, its bundle and a held-out input (T=60, 2 samples)."""
    folder = tmp_path_factory.mktemp("netx-dense")
    net = sn.train_and_export("cuba_dense", folder)
    x = folder / "x.npy"
    np.save(x, sn.test_input(net))
    bundle = nd.export(net.path, folder / "bundle").path
    return net, bundle, x


@pytest.fixture(scope="module")
def sdnn(tmp_path_factory):
    """The trained sigma-delta dense net, its bundle and held-out delta payloads (12 fraction bits)."""
    folder = tmp_path_factory.mktemp("netx-sdnn")
    net = sn.train_and_export("sdnn_dense", folder)
    x = folder / "x.npy"
    np.save(x, sn.test_input(net))
    bundle = nd.export(net.path, folder / "bundle").path
    return net, bundle, x


def _file_layers(path) -> dict[int, dict]:
    with h5py.File(path, "r") as f:
        return {int(k): {"type": g["type"][0].decode(), **({"weight": g["weight"][()]} if "weight" in g else {}),
                         **({k2: int(g["neuron"][k2][()]) for k2 in ("iDecay", "vDecay", "vThMant")}
                            if "neuron" in g else {})}
                for k, g in f["layer"].items()}


def test_a_netx_file_is_read_by_content_into_the_sequence_graph_with_its_integers(dense, tmp_path):
    net, bundle, _ = dense
    renamed = tmp_path / "trained.h5"  # recognised by content, not by its name
    renamed.write_bytes(net.path.read_bytes())
    g = read_deploy_graph(renamed)
    assert [g.kind(n) for n in g.order] == ["input", "linear", "cubalif", "linear", "cubalif", "output"]
    assert g.info.input_shape == (20,) and g.neuron_layers() == ["layer0.cuba", "layer1.cuba"]
    layers = _file_layers(net.path)
    manifest = json.loads((bundle / "manifest.json").read_text())
    params = np.load(bundle / "params.npz")
    quant = manifest["quantization"]["layers"]
    assert manifest["writer"] == "netx" and manifest["quantization"]["status"] == "int"
    for i in (0, 1):
        w = layers[i]["weight"]
        assert np.array_equal(np.asarray(g.node(f"layer{i}.dense").weight), w)  # the float graph holds the integers
        q = quant[f"layer{i}.dense"]
        assert np.array_equal(params[f"layer{i}.dense/weight_mant"] << q["weight_exp"], w.astype(np.int64))
        assert np.abs(params[f"layer{i}.dense/weight_mant"]).max() <= 128
        lif = quant[f"layer{i}.cuba"]
        assert (lif["du"], lif["dv"], lif["vth_mant"]) == (layers[i]["iDecay"] - 1, layers[i]["vDecay"],
                                                           layers[i]["vThMant"])
    # chip.net is the file itself, as netx loads it
    assert (bundle / "chip.net").read_bytes() == net.path.read_bytes()
    assert manifest["netx"]["layers"] == {"layer0.cuba": 0, "layer1.cuba": 1}


def test_inspect_and_export_on_the_command_line(dense, run_cli, tmp_path):
    net, _, _ = dense
    code, out, err = run_cli("inspect", net.path, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["source"] == "netx" and data["netx"]["layer1.cuba"]["vThMant"] == _file_layers(net.path)[1]["vThMant"]
    code, out, err = run_cli("export", net.path, "--out", tmp_path / "b")
    assert code == 0, err
    assert "writer netx" in out and (tmp_path / "b" / "chip.net").is_file()


def _refused(run_cli, tmp_path, path, *needles):
    out_dir = tmp_path / "refused-bundle"
    code, out, err = run_cli("export", path, "--out", out_dir)
    # torch's own import-time log lines (glog format, "W1206 14:33:41 ...") are not the CLI's output
    lines = [line for line in err.strip().splitlines() if line.strip() and not re.match(r"[IWEF]\d{4} \d\d:", line)]
    assert code == 2, (code, out, err)
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not out_dir.exists()  # nothing half-written
    return lines[0]


def test_a_damaged_file_is_refused_in_one_line_and_nothing_is_written(dense, run_cli, tmp_path):
    net, _, _ = dense
    cut = tmp_path / "cut.net"
    data = net.path.read_bytes()
    cut.write_bytes(data[: len(data) // 2])  # an interrupted copy
    _refused(run_cli, tmp_path, cut, "cut.net")
    other = tmp_path / "other.h5"  # an HDF5 file that is not a netx network
    with h5py.File(other, "w") as f:
        f["weights"] = np.zeros(3)
    _refused(run_cli, tmp_path, other, "not a lava-dl netx network", "'layer'", "rename it to graph.nir")


def test_unsupported_layer_and_neuron_types_are_refused_by_name(run_cli, tmp_path):
    """Real files from slayer's own export: a resonate-and-fire dense net (RF neurons) and a pooling layer."""
    import torch

    slayer = sn._slayer()
    rf = {"threshold": 1.0, "period": 10, "decay": 0.1}
    for name, blocks, needles in (
            ("rf", [slayer.block.rf.Dense(rf, 8, 4)], ("netx layer 0", "'RF_PHASE'")),
            ("pool", [slayer.block.cuba.Input(None, delay_shift=False), slayer.block.cuba.Pool(sn.CUBA, 2),
                      slayer.block.cuba.Flatten(), slayer.block.cuba.Dense(sn.CUBA, 16, 2)],
             ("netx layer 1", "'pool'"))):
        model = torch.nn.Sequential(*blocks)
        x = torch.rand(1, 8, 5) if name == "rf" else (torch.rand(1, 4, 4, 4, 5) < 0.3).float()
        model(x)  # shapes are known after one pass, as slayer's export needs
        path = tmp_path / f"{name}.net"
        with h5py.File(path, "w") as f:
            layer = f.create_group("layer")
            for i, block in enumerate(blocks):
                block.export_hdf5(layer.create_group(str(i)))
        _refused(run_cli, tmp_path, path, *needles)


@pytest.mark.lava
def _runs_as_netx(bundle, x, ours: str = "lava-fixed") -> None:
    """``ours`` (lava-fixed or the emulator) equals lava-dl's own netx loader on every layer, Lava fixed_pt
    equals the emulator bit for bit, and Lava float equals netx's process graph on float models (>= 99.9 %),
    on held-out input ``x``; no layer is trivially silent."""
    netx = nd.validate(bundle, executor=ours, against="netx", input=x)
    assert netx.passed and set(netx.layers.values()) == {100.0}, netx.first_divergence
    assert all(r["reference"] > 0.02 for r in netx.data["firing_rate"].values())  # not trivially silent
    fixed = nd.validate(bundle, executor="lava-fixed", against="emulator", input=x)
    assert fixed.passed and set(fixed.layers.values()) == {100.0}, fixed.layers
    floats = nd.validate(bundle, executor="lava-float", against="netx-float", input=x, min_agreement_pct=99.9)
    assert floats.passed and min(floats.layers.values()) >= 99.9, floats.layers


def test_dense_emulator_lava_fixed_and_netx_agree_spike_for_spike(dense):
    """The emulator equals Lava fixed_pt bit for bit; Lava fixed_pt equals lava-dl's own netx loader
    on every layer; Lava float equals netx's process graph on float models; all on held-out input."""
    _, bundle, x = dense
    _runs_as_netx(bundle, x)


@pytest.mark.lava
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["cuba_conv", "sdnn_conv"])
def test_conv_emulator_lava_fixed_and_netx_agree_spike_for_spike(kind, tmp_path):
    """As the dense test, on a conv net (CUBA: two convs, stride 2, flatten, dense; sigma-delta: conv with
    stride 2, flatten, dense, graded messages): netx's kernel flip and (X, Y, C) layout against our
    lowering's."""
    net = sn.train_and_export(kind, tmp_path)
    x = tmp_path / "x.npy"
    np.save(x, sn.test_input(net))
    bundle = nd.export(net.path, tmp_path / "bundle").path
    _runs_as_netx(bundle, x)


def test_a_recurrent_dense_layer_is_read_as_a_loop_and_its_integers_run_it(tmp_path):
    """slayer's ``cuba.Recurrent`` block, written by its own ``export_hdf5`` as a ``dense_rec`` layer (issue 30),
    read as a recurrent loop (issue 28: ``layer0.dense_rec`` from ``layer0.cuba`` back into it) with the file's
    integer recurrent weights; the bundle's emulator equals its float graph (the slow test: netx's own loader)."""
    from neurodeploy.ir import loops_of

    net = sn.train_and_export("cuba_rec", tmp_path, iterations=1)
    with h5py.File(net.path, "r") as f:
        assert f["layer/0/type"][0] == b"dense_rec"
        w_rec = f["layer/0/weight_rec"][()]
    g = read_deploy_graph(net.path)
    assert [g.kind(n) for n in g.order] == ["input", "linear", "cubalif", "linear", "linear", "cubalif", "output"]
    assert loops_of(g.nir).delayed == (("layer0.cuba", "layer0.dense_rec"),)
    assert np.array_equal(np.asarray(g.node("layer0.dense_rec").weight), w_rec.reshape(16, 16))
    x = tmp_path / "x.npy"
    np.save(x, sn.test_input(net))
    bundle = nd.export(net.path, tmp_path / "bundle").path
    params = np.load(bundle / "params.npz")
    quant = json.loads((bundle / "manifest.json").read_text())["quantization"]["layers"]["layer0.dense_rec"]
    assert np.array_equal(params["layer0.dense_rec/weight_mant"] << quant["weight_exp"], w_rec.reshape(16, 16))
    ours = nd.validate(bundle, executor="emulator", against="nir-torch", input=x)
    assert ours.passed and set(ours.layers.values()) == {100.0}, ours.layers


@pytest.mark.lava
@pytest.mark.slow
def test_a_recurrent_dense_layer_runs_as_netx_runs_it(tmp_path):
    """Trained, the same net: the emulator equals lava-dl's own netx loader (its ``RecurrentDense``) on every
    spike, Lava fixed_pt equals the emulator; the float side: netx's process graph on float models (its
    recurrent weights times 2**weight_exp too) against our Lava float lowering."""
    net = sn.train_and_export("cuba_rec", tmp_path)
    x = tmp_path / "x.npy"
    np.save(x, sn.test_input(net))
    bundle = nd.export(net.path, tmp_path / "bundle").path
    _runs_as_netx(bundle, x, ours="emulator")


@pytest.mark.lava
def test_the_netx_executor_is_realigned_to_logical_time(dense):
    """netx's records cut one Lava step later or earlier than the synapses' latency no longer agree:
    the realignment is what makes the 100 % above, not a coincidence of silent layers."""
    from neurodeploy.bundle import Bundle
    from neurodeploy.targets import make_executor

    _, bundle, x = dense
    b = Bundle.open(bundle)
    inputs = b.inputs(input_file=x).array
    ours = make_executor("emulator", b).run(inputs)[0]
    theirs = make_executor("netx", b).run(inputs)[0]
    for name in ours.layers:
        assert np.array_equal(ours.layers[name], theirs.layers[name]), name
        shifted = np.roll(theirs.layers[name], 1, axis=0)
        assert not np.array_equal(ours.layers[name], shifted), name


def _sequential_nir(path, join: bool = False):
    """A .nir file the nir package writes: Linear -> CubaLIF -> Linear -> LIF (``join``: a second Linear from
    the input into the CubaLIF, a path netx cannot express)."""
    import nir

    rng = np.random.default_rng(0)
    nodes = {"input": nir.Input(input_type={"input": np.array([20])}),
             "fc1": nir.Linear(weight=rng.normal(0, 1.0, (16, 20))),
             "cuba": nir.CubaLIF(tau_syn=np.full(16, 4e-4), tau_mem=np.full(16, 2e-3), r=np.full(16, 20.0),
                                 v_leak=np.zeros(16), v_threshold=np.full(16, 1.0), v_reset=np.zeros(16),
                                 w_in=np.full(16, 4.0)),
             "fc2": nir.Linear(weight=rng.normal(0, 1.0, (5, 16))),
             "lif": nir.LIF(tau=np.full(5, 5e-4), r=np.full(5, 5.0), v_leak=np.zeros(5), v_threshold=np.full(5, 1.0),
                            v_reset=np.zeros(5)),
             "output": nir.Output(output_type={"output": np.array([5])})}
    edges = [("input", "fc1"), ("fc1", "cuba"), ("cuba", "fc2"), ("fc2", "lif"), ("lif", "output")]
    if join:
        nodes["skip"] = nir.Linear(weight=rng.normal(0, 0.5, (16, 20)))
        edges += [("input", "skip"), ("skip", "cuba")]
    nir.write(str(path), nir.NIRGraph(nodes=nodes, edges=edges))
    return path


@pytest.mark.lava
def test_chip_net_of_a_quantized_sequential_nir_bundle_runs_in_netx_as_ours(tmp_path):
    """chip.net written from the bundle's own integers loads in netx.hdf5.Network unchanged and spikes as
    lava-fixed does; our netx reader reads it back with the same integers."""
    bundle = nd.export(_sequential_nir(tmp_path / "seq.nir"), tmp_path / "b", quantize="int").path
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["netx"]["chip_net"] == "chip.net" and manifest["netx"]["layers"] == {"cuba": 1, "lif": 2}
    quant = manifest["quantization"]["layers"]
    layers = _file_layers(bundle / "chip.net")
    assert (layers[2]["iDecay"], layers[2]["vDecay"], layers[2]["vThMant"]) == (
        quant["lif"]["du"] + 1, quant["lif"]["dv"], quant["lif"]["vth_mant"])
    v = nd.validate(bundle, executor="lava-fixed", against="netx")
    assert v.passed and set(v.layers.values()) == {100.0}, v.first_divergence
    assert all(r["reference"] > 0.02 for r in v.data["firing_rate"].values())


@pytest.mark.lava
@pytest.mark.slow
def test_chip_net_of_a_recurrent_nir_bundle_is_a_dense_rec_layer_netx_runs_as_ours(tmp_path):
    """A .nir file whose CubaLIF feeds itself back through a Linear (a recurrent loop, issue 28): chip.net holds
    it as netx's dense_rec layer (weight_rec), netx.hdf5.Network loads it unchanged and spikes as lava-fixed."""
    import nir

    path = _sequential_nir(tmp_path / "rec.nir")
    graph = nir.read(str(path))
    w_rec = np.random.default_rng(1).normal(0, 1.0, (16, 16))
    # as large as the input weights: one input LSB holds both without a right shift (which netx has no form for)
    w_rec *= np.abs(graph.nodes["fc1"].weight).max() / np.abs(w_rec).max() * 0.6
    graph.nodes["rec"] = nir.Linear(weight=w_rec)
    graph.edges += [("cuba", "rec"), ("rec", "cuba")]
    nir.write(str(path), graph)
    bundle = nd.export(path, tmp_path / "b", quantize="int").path
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["netx"]["chip_net"] == "chip.net", manifest["netx"]
    with h5py.File(bundle / "chip.net", "r") as f:
        assert f["layer/1/type"][0] == b"dense_rec" and f["layer/1/weight_rec"].shape == (16, 16)
    v = nd.validate(bundle, executor="lava-fixed", against="netx")
    assert v.passed and set(v.layers.values()) == {100.0}, v.first_divergence
    assert all(r["reference"] > 0.02 for r in v.data["firing_rate"].values())


def test_graphs_netx_cannot_express_get_the_manifests_reason(tmp_path, toy_checkpoint):
    bundle = nd.export(_sequential_nir(tmp_path / "join.nir", join=True), tmp_path / "j", quantize="int").path
    facts = json.loads((bundle / "manifest.json").read_text())["netx"]
    assert facts["chip_net"] is None and "sequential networks only" in facts["reason"] and not (bundle / "chip.net").exists()
    float_bundle = nd.export(_sequential_nir(tmp_path / "seq.nir"), tmp_path / "f").path
    assert "not quantized" in json.loads((float_bundle / "manifest.json").read_text())["netx"]["reason"]
    toy = nd.export(toy_checkpoint, tmp_path / "toy", size=(16, 16)).path
    facts = json.loads((toy / "manifest.json").read_text())["netx"]
    assert facts["chip_net"] is None and "netx 0.6 loads sequential networks only" in facts["reason"], facts
    with pytest.raises(NeurodeployError, match="no chip.net for netx"):
        nd.validate(bundle, executor="lava-fixed", against="netx")


def test_a_slayer_module_exports_through_slayers_own_netx_file(tmp_path):
    """nd.export(module): the blocks write the netx file with their own export_hdf5; the bundle holds the
    same integers as one exported from that file; a module that never ran is refused in one line."""
    import torch

    slayer = sn._slayer()
    torch.manual_seed(0)
    model = torch.nn.Sequential(slayer.block.cuba.Dense(sn.CUBA, 20, 16, weight_scale=2, weight_norm=False),
                                slayer.block.cuba.Dense(sn.CUBA, 16, 5, weight_scale=2, weight_norm=False))
    model(torch.as_tensor(sn.synthetic("cuba_dense", 2, 10, 0)[0]))
    bundle = nd.export(model, tmp_path / "m").path
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["writer"] == "netx" and manifest["source"]["slayer_module"].endswith("Sequential")
    with h5py.File(tmp_path / "direct.net", "w") as f:
        for i, block in enumerate(model):
            block.export_hdf5(f.create_group(f"layer/{i}"))
    direct = nd.export(tmp_path / "direct.net", tmp_path / "d").path
    a, b = np.load(bundle / "params.npz"), np.load(direct / "params.npz")
    assert sorted(a.files) == sorted(b.files) and all(np.array_equal(a[k], b[k]) for k in a.files)
    fresh = torch.nn.Sequential(slayer.block.cuba.Input(None), slayer.block.cuba.Dense(sn.CUBA, 4, 2))
    with pytest.raises(NeurodeployError, match="run one forward pass first"):
        nd.export(fresh, tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()


@pytest.mark.lava
def test_sigma_delta_layers_run_as_netx_runs_them_with_identical_graded_messages(sdnn):
    """SDNN: the emulator equals Lava fixed_pt, Lava fixed_pt equals netx on every message (step, neuron and
    payload), Lava float equals netx's graph on float models; the float form differs from the integers only
    by the 6 bits netx drops from every message (a message's value, never its timing here)."""
    from neurodeploy.bundle import Bundle
    from neurodeploy.targets import make_executor
    from neurodeploy.verify import verdict

    net, bundle, x = sdnn
    g = read_deploy_graph(net.path)
    assert [g.kind(n) for n in g.neuron_layers()] == ["sigma_delta", "sigma_delta"]
    assert all(g.edge_kind(n, g.successors(n)[0]) == "graded" for n in g.neuron_layers())
    b = Bundle.open(bundle)
    inputs = b.inputs(input_file=x).array
    runs = {name: make_executor(name, b).run(inputs) for name in ("emulator", "lava-fixed", "netx", "lava-float",
                                                                  "netx-float", "nir-torch")}
    names = [f"sample {i}" for i in range(inputs.shape[1])]
    for executor, reference in (("lava-fixed", "emulator"), ("lava-fixed", "netx"), ("lava-float", "netx-float")):
        v = verdict(runs[reference], runs[executor], names, 100.0, 60.0)
        assert v.passed and set(v.layers.values()) == {100.0}, (executor, reference, v.layers)
        for ours, theirs in zip(runs[executor], runs[reference]):
            for layer in ours.layers:  # graded payloads, not only which steps carry one
                assert np.array_equal(ours.layers[layer], theirs.layers[layer]), (executor, reference, layer)
    for layer in g.neuron_layers():
        msgs = np.stack([t.layers[layer] for t in runs["netx"]])
        assert np.count_nonzero(msgs) > 0.05 * msgs.size and len(np.unique(msgs)) > 10  # graded, and not silent
        sent = [(t.layers[layer] != 0) for t in runs["nir-torch"]]
        assert all(np.array_equal(s, t.layers[layer] != 0) for s, t in zip(sent, runs["emulator"]))
        floats = np.stack([t.layers[layer] for t in runs["nir-torch"]])
        ints = np.stack([t.layers[layer] for t in runs["emulator"]])
        assert np.abs(floats - ints).max() < 16  # the dropped fraction bits, carried no further than a few LSBs


def test_report_counts_a_sigma_delta_layers_messages_and_payload_bits(sdnn, tmp_path):
    """report on a netx bundle: a sigma-delta layer's events are its graded messages (not states), with the
    payload bits they need."""
    net, bundle, x = sdnn
    r = nd.report(bundle, executor="emulator", input=x)
    rows = {row["layer"]: row for row in r.data["layers"]}
    emulated = [t.layers for t in nd.run(bundle, "emulator", input=x)]
    for layer in ("layer0.sdnn", "layer1.sdnn"):
        sent = np.mean([np.count_nonzero(t[layer]) for t in emulated])
        peak = max(np.abs(t[layer]).max() for t in emulated)
        assert rows[layer]["messages"] == rows[layer]["spikes"] == sent > 0
        assert rows[layer]["edge_kind"] == "graded" and 2 ** (rows[layer]["payload_bits"] - 2) <= peak
    assert "Sigma-delta layers send graded messages" in (bundle / "report.md").read_text()


@pytest.mark.lava
def test_a_bias_and_an_affine_readout_run_as_netx_runs_them(tmp_path):
    """A trained bias (slayer's norm: netx's bias_mant << 6 on v each step) and slayer's Affine readout
    (vThMant = 2**18 - 1, never fires: a CubaLI): our executors and netx (with its own per-layer reset, a
    Monitor of the readout's v) give the same spikes and voltages, fixed and float."""
    from neurodeploy.bundle import Bundle
    from neurodeploy.targets import make_executor

    net = sn.train_and_export("cuba_readout", tmp_path)
    g = read_deploy_graph(net.path)
    assert [g.kind(n) for n in g.neuron_layers()] == ["cubalif", "cubali"]
    bundle = nd.export(net.path, tmp_path / "b").path
    with h5py.File(net.path, "r") as f:
        bias = f["layer/0/bias"][()]
    assert np.any(bias != 0)  # trained, not the initial zeros
    assert np.array_equal(np.load(bundle / "params.npz")["layer0.cuba/bias_mant"], bias.astype(np.int64))
    b = Bundle.open(bundle)
    x = b.inputs(input_file=None).array
    runs = {name: make_executor(name, b).run(x[:40]) for name in ("emulator", "lava-fixed", "netx", "lava-float",
                                                                 "netx-float")}
    for ours, theirs in (("lava-fixed", "emulator"), ("lava-fixed", "netx")):
        for a, c in zip(runs[ours], runs[theirs]):
            for layer in a.layers:
                assert np.array_equal(a.layers[layer], c.layers[layer]), (ours, theirs, layer)
    v = runs["netx"][0].layers["layer1.cuba"]
    assert np.abs(v).max() > 1 and len(np.unique(v)) > 20  # a voltage that moves, in input units
    for a, c in zip(runs["lava-float"], runs["netx-float"]):
        assert np.array_equal(a.layers["layer0.cuba"], c.layers["layer0.cuba"])
        np.testing.assert_allclose(a.layers["layer1.cuba"], c.layers["layer1.cuba"], rtol=1e-9, atol=1e-9)


def test_a_sigma_delta_bundles_default_input_is_graded_and_reaches_every_layer(sdnn):
    """Without --input, a sigma-delta bundle is validated on delta-encoded random walks (netx's 12 fraction
    bits), not binary spikes (whose payload of 1 stays far below an SDNN threshold); every layer sends."""
    from neurodeploy.bundle import Bundle
    from neurodeploy.targets import make_executor

    _, bundle, _ = sdnn
    b = Bundle.open(bundle)
    inputs = b.inputs()
    assert inputs.record["kind"] == "random_walk_deltas" and np.abs(inputs.array).max() > 1
    trace = make_executor("emulator", b).run(inputs.array)[0]
    assert all(np.count_nonzero(v) > 0 for v in trace.layers.values())
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["quantization"]["calibration_input"]["kind"] == "random_walk_deltas"


@pytest.mark.lava
def test_synaptic_delays_are_read_as_delay_lines_and_run_as_netx_runs_them(tmp_path):
    """slayer's axonal delays (``delay=True``: one per neuron of the first block, written as that layer's
    ``delay``; netx builds a ``DelayDense``) read as one Linear per delay value, each behind a NIR Delay of
    that many steps; Lava fixed_pt equals lava-dl's own loader and the emulator on every spike, Lava float
    equals netx's process graph on float models."""
    net = sn.train_and_export("cuba_delay", tmp_path, iterations=2)
    with h5py.File(net.path, "r") as f:
        delays = f["layer/0/delay"][()].astype(int)
        weight = f["layer/0/weight"][()]
    g = read_deploy_graph(net.path)
    lines = {n: int(round(float(np.asarray(g.node(n).delay).reshape(-1)[0]) / g.info.dt_s))
             for n in g.order if g.kind(n) == "delay"}
    assert sorted(lines.values()) == sorted(set(delays) - {0}) and len(lines) >= 3
    # every weight sits on the synapse of its row's delay, and only there
    syns = [n for n in g.order if n.startswith("layer0.dense")]
    total = sum(np.asarray(g.node(n).weight) for n in syns)
    assert np.array_equal(total, weight)
    for n in syns:
        rows = np.flatnonzero(np.any(np.asarray(g.node(n).weight) != 0, axis=1))
        assert len(set(delays[rows])) == 1
    x = tmp_path / "x.npy"
    np.save(x, sn.test_input(net))
    bundle = nd.export(net.path, tmp_path / "bundle").path
    _runs_as_netx(bundle, x)
