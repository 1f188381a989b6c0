"""The intermediate representation every stage after export shares.

- :mod:`.nodes` -- neurodeploy's node types beside NIR's (encode, decode, concat, host blocks ...);
- :mod:`.info` -- the annotations stored in a graph's metadata (:class:`GraphInfo`, which
  parses and checks itself);
- :mod:`.order` -- the one topological order;
- :mod:`.fields` -- each node type's field checks, registered by type;
- :mod:`.check` -- the strict checks a graph passes before anything runs it;
- :mod:`.graph` -- :class:`DeployGraph`, the graph + annotations + arrays object;
- :mod:`.nirfile` -- reading and writing ``.nir`` files.
"""

from neurodeploy.ir.graph import (DeployGraph, as_deploy_graph, loops_of, node_shape, predecessors,
                                  topological_order)
from neurodeploy.ir.info import EDGE_BINARY, EDGE_GRADED, EDGE_REAL, METADATA_KEY, GraphInfo, attach_info, graph_info
from neurodeploy.ir.nirfile import import_graph, read_deploy_graph, read_graph, write_graph

__all__ = ["DeployGraph", "GraphInfo", "as_deploy_graph", "import_graph", "read_deploy_graph", "attach_info", "graph_info", "node_shape", "predecessors",
           "loops_of",
           "topological_order", "read_graph", "write_graph", "EDGE_BINARY", "EDGE_GRADED", "EDGE_REAL",
           "METADATA_KEY"]
