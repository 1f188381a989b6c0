"""The faster Conv process model equals Lava's own: the same numbers (to rounding) and the same spikes."""

from __future__ import annotations

import numpy as np
import pytest

import neurodeploy.targets.loihi  # noqa: F401  (Lava's Python 3.11 shim)
from lava.proc.conv import utils

from neurodeploy.targets.loihi.processes.fast import conv_xyc


@pytest.mark.parametrize("x_shape, k_out, k, stride, padding, dilation, groups", [
    ((16, 12, 4), 6, (3, 3), (1, 1), (1, 1), (1, 1), 1),
    ((17, 11, 4), 8, (3, 3), (2, 2), (1, 1), (1, 1), 1),  # stride 2, odd sizes
    ((16, 16, 6), 6, (3, 3), (1, 1), (2, 2), (2, 2), 6),  # depthwise, dilated
    ((10, 14, 8), 4, (1, 1), (1, 1), (0, 0), (1, 1), 2),  # 1x1, grouped
    ((9, 9, 3), 5, (5, 3), (1, 2), (2, 1), (1, 1), 1),  # rectangular kernel, mixed strides
])
def test_fast_conv_equals_lavas_conv(x_shape, k_out, k, stride, padding, dilation, groups):
    rng = np.random.default_rng(sum(x_shape) + k_out)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((k_out, *k, x_shape[2] // groups))
    lava = utils.conv_scipy(x, w, k, stride, padding, dilation, groups)
    ours = conv_xyc(x, w, stride, padding, dilation, groups)
    assert ours.shape == lava.shape
    # a different summation order: equal to a few units in the last place of the output's scale
    np.testing.assert_allclose(ours, lava, rtol=0, atol=8 * np.finfo(float).eps * np.max(np.abs(lava)))


@pytest.mark.lava
def test_lava_run_with_fast_conv_gives_the_same_spikes_as_lavas_own(toy_graph, rainy_images):
    from neurodeploy.targets.loihi.executor import write_island_files
    from neurodeploy.targets.loihi.lower import lower
    from neurodeploy.targets.loihi.network import LavaNetwork

    graph, info = toy_graph
    lowered = lower(graph, info)
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        islands = write_island_files(graph, info, Path(tmp))
        spikes_fast, out_fast, _ = LavaNetwork(lowered, rainy_images, islands, fast=True).run()
        spikes_lava, out_lava, _ = LavaNetwork(lowered, rainy_images, islands, fast=False).run()
    assert spikes_fast.keys() == spikes_lava.keys()
    for name in spikes_fast:
        assert np.array_equal(spikes_fast[name], spikes_lava[name]), name
    assert sum(s.sum() for s in spikes_fast.values()) > 0
    np.testing.assert_allclose(out_fast, out_lava, rtol=0, atol=1e-6)


def _toy_net(toy_graph, rainy_images, tmp_path, break_island=False):
    from neurodeploy.targets.loihi.executor import write_island_files
    from neurodeploy.targets.loihi.lower import lower
    from neurodeploy.targets.loihi.network import LavaNetwork

    graph, info = toy_graph
    islands = write_island_files(graph, info, tmp_path)
    if break_island:
        (tmp_path / "island1.onnx").write_bytes(b"not an onnx file")
    return LavaNetwork(lower(graph, info), rainy_images, islands)


@pytest.mark.lava
@pytest.mark.parametrize("case", ["process-fails", "time-limit"])
def test_a_failed_or_hung_lava_run_ends_in_one_line_and_leaves_no_process(toy_graph, rainy_images, tmp_path, case):
    import multiprocessing

    from neurodeploy.errors import LavaRunError

    net = _toy_net(toy_graph, rainy_images, tmp_path, break_island=case == "process-fails")
    with pytest.raises(LavaRunError) as exc:
        net.run(timeout_s=0.3 if case == "time-limit" else None)
    assert "\n" not in str(exc.value) and "stopped" in str(exc.value)
    assert not [p for p in multiprocessing.active_children() if p.is_alive()]
