"""Command line: ``dse run | status | pareto | query | plot | export | devices | spaces | compact``."""

from dse.cli.run import main

__all__ = ["main"]
