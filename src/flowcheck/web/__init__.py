"""The local web simulator behind ``flowcheck serve``.

``simulator`` holds the behaviour (machines, sessions, counterexample replay) as
JSON-ready calls; ``server`` exposes it over HTTP with the standard library;
``svg`` draws the diagrams; ``static/`` is the page (HTML, one JS module, CSS).
"""

from flowcheck.web.server import SimulatorServer, make_server
from flowcheck.web.simulator import Simulator

__all__ = ["Simulator", "SimulatorServer", "make_server"]
