"""``Trace``: the one result type of every executor (torch, integer emulator, Lava, Loihi).

A Trace holds, for each named layer (NIR node name = torch module path), its output on
every *logical* time step 0..T-1 -- spikes (binary 0/1, or graded levels) as float
arrays of shape ``(T, C, H, W)`` -- plus the decoded output image ``(C, H, W)`` in the
model's image units ([0, 1] for the derainers). Executors with a pipeline latency (Lava:
one step per synaptic hop) realign to logical time before they return, so two Traces of
the same graph are comparable element by element whoever made them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Trace:
    """Per-layer outputs over logical time steps, and the decoded output image.

    Attributes:
        executor: name of the executor that produced it (e.g. ``"torch"``, ``"lava-float"``).
        t_steps: number of logical time steps T.
        layers: layer name -> array ``(T, *shape)``; insertion order is graph order.
        output: decoded output image ``(C, H, W)``.
        membranes: optional layer name -> membrane potential ``(T, *shape)`` (model units).
        meta: free-form facts about the run (image name, run time in s, Lava steps, ...).
    """

    executor: str
    t_steps: int
    layers: dict[str, np.ndarray]
    output: np.ndarray
    membranes: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, arr in self.layers.items():
            if arr.shape[0] != self.t_steps:
                raise ValueError(f"trace layer {name!r}: {arr.shape[0]} steps, expected T={self.t_steps}")

    def save(self, path: str | Path) -> None:
        """Write as ``.npz`` (layers under ``layer/NAME``, membranes under ``membrane/NAME``)."""
        arrays = {f"layer/{k}": v for k, v in self.layers.items()}
        arrays.update({f"membrane/{k}": v for k, v in self.membranes.items()})
        arrays["output"] = self.output
        arrays["header"] = np.array(
            json.dumps({"executor": self.executor, "t_steps": self.t_steps, "order": list(self.layers), "meta": self.meta})
        )
        np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> "Trace":
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            layers = {k: data[f"layer/{k}"] for k in header["order"]}
            membranes = {k[len("membrane/"):]: data[k] for k in data.files if k.startswith("membrane/")}
            return cls(header["executor"], header["t_steps"], layers, data["output"], membranes, header["meta"])
