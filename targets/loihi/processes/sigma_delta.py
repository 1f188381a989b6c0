"""Models of Lava's own ``SigmaDelta`` process that clear its state once per window, so that sequence
samples streamed back to back (:mod:`neurodeploy.targets.loihi.network`) never see each other's
``sigma``, ``act`` and ``residue`` -- as ``LIFReset`` does for the LIF (Lava's SigmaDelta has no
reset of its own). Selected through ``exception_proc_model_map``; the arithmetic is Lava's models'
(``PySigmaDeltaModelFloat`` / ``PySigmaDeltaModelFixed``), unchanged.

The window comes in the process's ``proc_params`` (``reset_interval``, ``reset_offset``: the
keyword arguments ``SigmaDelta(...)`` passes on), with ``LIFReset``'s convention: the state is
cleared before the step whose ``time_step % reset_interval == reset_offset``.
"""

from __future__ import annotations

from neurodeploy.targets.loihi import compat

compat.install()

from lava.magma.core.decorator import implements, requires, tag  # noqa: E402
from lava.magma.core.resources import CPU  # noqa: E402
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol  # noqa: E402
from lava.proc.sdn.models import PySigmaDeltaModelFixed, PySigmaDeltaModelFloat  # noqa: E402
from lava.proc.sdn.process import SigmaDelta  # noqa: E402


class _Reset:
    def _clear(self) -> None:
        interval = int(self.proc_params.get("reset_interval", 0) or 0)
        if interval and self.time_step % interval == int(self.proc_params.get("reset_offset", 0)) % interval:
            self.sigma[:] = 0
            self.act[:] = 0
            self.residue[:] = 0
            self.error[:] = 0


@implements(proc=SigmaDelta, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PySigmaDeltaResetFloat(_Reset, PySigmaDeltaModelFloat):
    """Lava's float SigmaDelta, its state cleared once per window."""

    def run_spk(self) -> None:
        self._clear()
        super().run_spk()


@implements(proc=SigmaDelta, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySigmaDeltaResetFixed(_Reset, PySigmaDeltaModelFixed):
    """Lava's bit-accurate SigmaDelta, its state cleared once per window."""

    def run_spk(self) -> None:
        self._clear()
        super().run_spk()


__all__ = ["PySigmaDeltaResetFloat", "PySigmaDeltaResetFixed", "SigmaDelta"]
