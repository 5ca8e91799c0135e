"""Local fakes of the three external APIs (Evolution, Autentique, Meta Graph API).

Each module has a `create_app(state=None) -> FastAPI` factory; the state object (also at
`app.state.fake`) records traffic and takes failure injections. `python -m fakes NAME --port N` runs one.
"""

from fakes import autentique, control, evolution, evolution_webhooks, graph, serving
from fakes.autentique import AutentiqueState
from fakes.evolution import EvolutionState
from fakes.graph import GraphState

__all__ = [
    "AutentiqueState",
    "EvolutionState",
    "GraphState",
    "autentique",
    "control",
    "evolution",
    "evolution_webhooks",
    "graph",
    "serving",
]
