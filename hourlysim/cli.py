"""Command line: ``hourlysim run``, ``hourlysim validate``, ``hourlysim report``.

The CLI owns logging configuration and progress display; the library only logs.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from .errors import InputError


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hourlysim")
@click.option("-v", "--verbose", is_flag=True, help="Log what each stage does.")
def main(verbose: bool) -> None:
    """hourlysim: hour-by-hour CO2 of vehicle electrification in China's cities.

    Simulates every hour of a year for every prefecture-level city: EV driving energy,
    charging under a strategy, provincial dispatch with inter-provincial transfers, the
    average / marginal / consumption-based intensity of the power EVs draw, the gasoline car
    they replace, and inequality across cities.

    \b
    Typical use:
      hourlysim validate inputs
      hourlysim run scenarios/baseline.yaml        # writes outputs/baseline.nc
    """
    _configure_logging(verbose)


@main.command()
@click.argument("path", type=click.Path(path_type=Path), default="inputs")
def validate(path: Path) -> None:
    """Check an input folder (default: inputs) and report the first problem found.

    Every file, column, unit, bound, key and cross-reference described in inputs/README.md
    is checked; a problem is reported with the file, the line or column, and what was
    expected. Exit status 1 on a problem.
    """
    from .inputs import validate as validate_inputs

    try:
        inputs = validate_inputs(path)
    except InputError as error:
        click.echo(f"invalid input: {error}", err=True)
        sys.exit(1)
    click.echo(
        f"{path}: valid ({inputs.cities.sizes['city']} cities, "
        f"{inputs.provinces.sizes['province']} provinces, "
        f"{inputs.corridors.sizes['corridor']} corridors, 8760 hours)"
    )


@main.command()
@click.argument("scenario", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="NetCDF file to write (default: the scenario's output, outputs/<name>.nc).",
)
@click.option("--serial", is_flag=True, help="Run in this process, no dask cluster.")
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    default=None,
    help="Run on an existing dask.distributed scheduler (e.g. tcp://host:8786).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes of the local cluster (default: one per core, at most one per task).",
)
@click.option("--resume", is_flag=True, help="Continue an interrupted run from its parts.")
@click.option("--fresh", is_flag=True, help="Delete the parts of an interrupted run first.")
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Times a failing task is retried.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def run(
    scenario: Path,
    output: Path | None,
    serial: bool,
    scheduler: str | None,
    workers: int | None,
    resume: bool,
    fresh: bool,
    retries: int,
    quiet: bool,
) -> None:
    """Run a scenario YAML file and write its NetCDF results.

    Runs the five stages (demand, charging, grid, accounting, inequality) for every year
    and charging strategy in the scenario (every member of its sweep), as tasks on a dask
    cluster: by default a local one (one single-threaded worker process per core);
    --scheduler runs on an existing cluster (see docs/cluster.md for SLURM/PBS), --serial in
    this process. Each (year, strategy) task is written to <output>.parts/ when done. An
    interrupted run leaves its parts there: --resume continues from them, --fresh starts
    over; without either the run refuses to touch them.
    """
    from tqdm import tqdm

    from .runner import TaskFailed, UnfinishedRun
    from .runner import run as run_scenario
    from .scenario import expand_sweep, load_scenario

    if not serial and logging.getLogger().getEffectiveLevel() > logging.INFO:
        import distributed  # noqa: F401  (sets its loggers to INFO when imported)

        logging.getLogger("distributed").setLevel(logging.WARNING)  # without -v: warnings only
    if resume and fresh:
        raise click.UsageError("--resume and --fresh exclude each other")
    if serial and (scheduler or workers):
        raise click.UsageError("--serial excludes --scheduler and --workers")
    if scheduler and workers:
        raise click.UsageError("--workers sizes the local cluster; not with --scheduler")
    try:
        loaded = load_scenario(scenario, output=output)
        members = expand_sweep(loaded)
        steps = sum(len(m.years) * (1 + len(m.strategies)) + 1 for m in members)
        with tqdm(total=steps, disable=quiet, unit="task", file=sys.stderr) as bar:

            def progress(message: str) -> None:
                bar.set_description(message)
                bar.update(1)

            result = run_scenario(
                loaded,
                progress,
                scheduler="serial" if serial else scheduler or "local",
                workers=workers,
                resume=resume,
                fresh=fresh,
                retries=retries,
            )
    except InputError as error:
        click.echo(f"invalid input: {error}", err=True)
        sys.exit(1)
    except (UnfinishedRun, TaskFailed) as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    for path in result if isinstance(result, list) else [result]:
        click.echo(f"wrote {path}")


@main.command()
@click.argument("output", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder to write (default: <output stem>_report/ beside the file).",
)
@click.option("--year", type=int, default=None, help="Year to report (default: the first).")
@click.option(
    "--strategy",
    default=None,
    help="Charging strategy of the per-city figures (default: uncontrolled, else the first).",
)
@click.option(
    "--provinces",
    default=None,
    help="Comma-separated province codes of the marginal-intensity heatmap (default: NM,SC,QH,GD).",
)
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Number of most advanced (largest EV fleet) and richest cities compared.",
)
def report(
    output: Path,
    folder: Path | None,
    year: int | None,
    strategy: str | None,
    provinces: str | None,
    top: int,
) -> None:
    """Write figures and a Markdown summary (summary.md) for an output cube.

    Figures: a city map of the reduction per EV, Lorenz curves by accounting method, an
    hour-of-day x month heatmap of marginal intensity (hourly cubes), national EV CO2 by
    strategy; tables: importers and exporters, import shares of EV electricity, cities where
    an EV emits more than a gasoline car (annual, winter, summer), territorial versus
    consumption-based reductions, inequality indices; each set beside the reference study.
    """
    from .report import write_report

    codes = [code.strip() for code in provinces.split(",") if code.strip()] if provinces else None
    try:
        written = write_report(output, folder, year, strategy, codes, top)
    except InputError as error:
        click.echo(f"invalid input: {error}", err=True)
        sys.exit(1)
    click.echo(f"wrote {written}")


if __name__ == "__main__":  # pragma: no cover
    main()
