"""Run a scenario batch on a SLURM cluster through dask-jobqueue (see docs/cluster.md).

Usage, from a login node, in the repository with its virtual environment active and
``pip install -e ".[cluster]"`` done::

    python examples/slurm_jobqueue.py scenarios/pathway_2025_2060.yaml --jobs 8

Each SLURM job runs one dask worker process with one thread (numba kernels release the GIL
but the runner's parallelism is across tasks). The output folder must be on a file system
that the workers and this process share: each task writes its part file there and this
process merges the parts. Re-running the same command with ``--resume`` after an
interruption continues from the parts on disk. For PBS use ``dask_jobqueue.PBSCluster``
with the same arguments (``account`` is ``project`` there).
"""

from __future__ import annotations

import argparse

from dask_jobqueue import SLURMCluster
from distributed import Client

from hourlysim import load_scenario
from hourlysim.runner import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario")
    parser.add_argument("--jobs", type=int, default=4, help="SLURM jobs (one worker each)")
    parser.add_argument("--queue", default=None, help="SLURM partition")
    parser.add_argument("--account", default=None, help="SLURM account")
    parser.add_argument("--memory", default="4GB", help="memory per job (one scenario-year)")
    parser.add_argument("--walltime", default="02:00:00")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()

    cluster = SLURMCluster(
        cores=1,
        processes=1,
        memory=args.memory,
        walltime=args.walltime,
        queue=args.queue,
        account=args.account,
        # one thread per worker: tasks, not threads, carry the parallelism
        worker_extra_args=["--nthreads", "1"],
    )
    cluster.scale(jobs=args.jobs)
    with Client(cluster) as client:
        scenario = load_scenario(args.scenario)
        written = run(scenario, print, client=client, resume=args.resume, retries=2)
    cluster.close()
    print("wrote", written)


if __name__ == "__main__":
    main()
