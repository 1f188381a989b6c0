"""The Loihi target: lowering a NIR chip graph to Lava processes, and running them.

Importing this package installs the Python 3.11 compatibility shim for Lava
(:mod:`neurodeploy.targets.loihi.compat`) before anything imports lava.
"""

from neurodeploy.targets.loihi import compat

compat.install()
