"""hourlysim: hourly city-level CO2 accounting of vehicle electrification in China.

Public API: :func:`load_inputs`, :func:`load_scenario`, :func:`run`, :func:`simulate_year`.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import InputError  # noqa: E402
from .inputs import load_inputs  # noqa: E402
from .scenario import load_scenario  # noqa: E402


def run(scenario, progress=None):
    """Run a scenario (a :class:`~hourlysim.scenario.Scenario` or a YAML path)."""
    from .runner import run as _run

    if not hasattr(scenario, "strategies"):
        scenario = load_scenario(scenario)
    return _run(scenario, progress)


def simulate_year(inputs, scenario, year, progress=None):
    """Run the five stages for one year (see :func:`hourlysim.runner.simulate_year`)."""
    from .runner import simulate_year as _simulate_year

    return _simulate_year(inputs, scenario, year, progress)


__all__ = ["InputError", "load_inputs", "load_scenario", "run", "simulate_year", "__version__"]
