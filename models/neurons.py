"""Spiking neurons of the derainer papers, as plain stateful-over-T PyTorch modules.

All neurons here are *multi-step*: they take a whole sequence ``x`` of shape
``(T, N, ...)`` (T time steps first) and return the output sequence of the same shape.
The membrane starts at zero for every call, so state never leaks from one image to the
next. Inputs and membrane potentials are in the model's own float units ("volts" in
the papers' notation); thresholds are in the same units.
"""

from __future__ import annotations

import torch
from torch import nn


class _SigmoidSurrogateSpike(torch.autograd.Function):
    """Heaviside step with Θ(0) = 1 forward, sigmoid surrogate gradient backward.

    Backward: ``σ'(x) = α σ(αx) (1 - σ(αx))`` (SpikingJelly's ``surrogate.Sigmoid``).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (x,) = ctx.saved_tensors
        sig = torch.sigmoid(ctx.alpha * x)
        return grad_output * ctx.alpha * sig * (1 - sig), None


def spike(x: torch.Tensor, alpha: float = 4.0) -> torch.Tensor:
    """Fire where ``x >= 0`` (equality fires); sigmoid surrogate gradient of slope ``alpha``."""
    return _SigmoidSurrogateSpike.apply(x, alpha)


class LIF(nn.Module):
    """The papers' LIF (SpikingJelly ``MultiStepLIFNode``, ``decay_input=False``, hard reset).

    Per time step t, with input current ``X[t]`` and membrane ``V[t-1]`` (``V[-1] = 0``):

    - charge: ``H[t] = V[t-1] - V[t-1] / tau + X[t]``  (= ``0.5 V[t-1] + X[t]`` for tau = 2)
    - fire:   ``S[t] = 1 if H[t] >= v_threshold else 0``  (fires at equality, Θ(0) = 1)
    - reset:  ``V[t] = H[t] * (1 - S[t])``  (hard reset to 0)

    Args:
        v_threshold: firing threshold, in the same units as the input current (default
            0.15, ESDNet's code).
        tau: membrane time constant in time steps (default 2).
        surrogate_alpha: slope α of the sigmoid surrogate gradient (default 4).

    Input and output: ``(T, N, ...)``; the output is binary spikes (0./1.) in the input dtype.
    """

    def __init__(self, v_threshold: float = 0.15, tau: float = 2.0, surrogate_alpha: float = 4.0):
        super().__init__()
        if tau < 1.0:
            raise ValueError(f"tau must be >= 1 time step, got {tau}")
        self.v_threshold = float(v_threshold)
        self.tau = float(tau)
        self.surrogate_alpha = float(surrogate_alpha)

    def extra_repr(self) -> str:
        return f"v_threshold={self.v_threshold}, tau={self.tau}"

    def forward(self, x: torch.Tensor, return_membrane: bool = False):
        v = torch.zeros_like(x[0])
        spikes, membranes = [], []
        for x_t in x:
            h = v - v / self.tau + x_t
            s = spike(h - self.v_threshold, self.surrogate_alpha)
            v = h * (1.0 - s)
            spikes.append(s)
            membranes.append(h)
        out = torch.stack(spikes)
        if return_membrane:
            return out, torch.stack(membranes)
        return out


class _RoundSTE(torch.autograd.Function):
    """Round to the nearest integer forward; identity (straight-through) gradient backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        return grad_output


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """``round(x)`` (half to even, as ``torch.round``) with a straight-through gradient."""
    return _RoundSTE.apply(x)


class NILIF(nn.Module):
    """VLIF-Net's normalised integer LIF (NI-LIF): graded spikes with ``levels + 1`` values.

    Per time step t, with input ``X[t]`` and residual membrane ``H[t-1]`` (``H[-1] = 0``),
    everything in units of one spike level (an input of 1.0 is worth one level):

    - integrate: ``U[t] = H[t-1] + X[t]``
    - fire:      ``K[t] = clip(round(U[t]), 0, D)`` (integer spike count 0..D, round half
      to even), output ``S[t] = K[t] / D`` in {0, 1/D, ..., 1}
    - reset:     ``H[t] = beta * (U[t] - K[t])`` (soft reset by what was emitted, then leak)

    The gradient of ``round`` is passed straight through (``dK/dU = 1`` inside [0, D],
    0 where the clip saturates). With D = 1 this is a binary neuron firing at ``U >= 0.5``.

    Args:
        levels: D, the largest integer spike (VLIF-Net: 4).
        beta: leak of the residual membrane per time step, in [0, 1]. The VLIF-Net paper
            does not print it; 0.25 was read once in the authors' code, which is not
            available to us to verify (guess, see DERAINERS.md).

    Input and output: ``(T, N, ...)``; the output is graded spikes ``K / D``.
    """

    def __init__(self, levels: int = 4, beta: float = 0.25):
        super().__init__()
        if levels < 1:
            raise ValueError(f"levels must be >= 1, got {levels}")
        if not 0.0 <= beta <= 1.0:
            raise ValueError(f"beta must be in [0, 1], got {beta}")
        self.levels = int(levels)
        self.beta = float(beta)

    def extra_repr(self) -> str:
        return f"levels={self.levels}, beta={self.beta}"

    def forward(self, x: torch.Tensor, return_membrane: bool = False):
        h = torch.zeros_like(x[0])
        spikes, membranes = [], []
        for x_t in x:
            u = h + x_t
            k = torch.clamp(round_ste(u), 0, self.levels)
            h = self.beta * (u - k)
            spikes.append(k / self.levels)
            membranes.append(u)
        out = torch.stack(spikes)
        if return_membrane:
            return out, torch.stack(membranes)
        return out
