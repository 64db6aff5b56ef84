"""Plan a batch: every job asked for, where each PDF goes, and disjoint shards of the work."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import product

from leafgen.errors import LeafgenError
from leafgen.project import Project
from leafgen.render.job import Job, check_job


def relative_path(job: Job) -> str:
    """Where a job's PDF goes inside the out dir: one folder per leaflet and language."""
    suffix = ("-large" if job.large_print else "") + ("-fillable" if job.fillable else "")
    return f"{job.leaflet}/{job.lang}/{job.leaflet}-{job.kind}-{job.paper}{suffix}.pdf"


def plan(
    project: Project,
    leaflets: Iterable[str],
    langs: Iterable[str],
    kinds: Iterable[str],
    papers: Iterable[str],
    large_print: bool = False,
    fillable: bool = False,
) -> list:
    """Every (leaflet, language, kind, paper) combination asked for, in a stable order."""
    leaflets = list(leaflets)
    for leaflet in dict.fromkeys(leaflets):
        project.leaflet_path(leaflet)  # an unknown leaflet is a user error before anything is built
    jobs = [
        Job(lf, lang, kind, paper, large_print, fillable and kind == "checklist")
        for lf, lang, kind, paper in product(leaflets, langs, kinds, papers)
    ]
    languages = project.languages()
    for job in jobs:
        check_job(job, project, languages)
    return jobs


def shard(jobs: list, spec: str) -> list:
    """The K-th of N disjoint slices (1-based), by position, so shards need no coordination.

    Every shard must be planned with the same arguments; slices interleave, so each gets a fair mix of
    languages and kinds. Their manifests are joined with `leafgen manifest merge`.
    """
    try:
        k, n = (int(x) for x in spec.split("/"))
        if not 1 <= k <= n:
            raise ValueError
    except ValueError:
        raise LeafgenError(f"--shard takes K/N with 1 <= K <= N, not {spec!r}") from None
    return jobs[k - 1 :: n]
