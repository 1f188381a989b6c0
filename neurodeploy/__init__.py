"""neurodeploy: deploy spiking derainers from PyTorch to Intel Loihi.

Pipeline (see DESIGN.md): load -> export (NIR) -> lower (Lava) -> run (Trace) -> verify -> report.
"""

__version__ = "0.1.0"
