"""The Jobs API version a request came in on (``/api/2.1/jobs`` or ``/api/2.2/jobs``), and
what differs between the two.

Both are served, as on a workspace (Airflow and older SDKs still call 2.1). They differ in
two ways (Databricks, "Updating from Jobs API 2.1 to 2.2"):

- queueing is on by default only for jobs *created* with 2.2; a job created with 2.1 (or
  2.0) without a ``queue`` field does not queue, so a run over ``max_concurrent_runs`` is
  SKIPPED. The version a job was created with stays with the job (``JobRecord``).
- only 2.2 pages the arrays of jobs/get and runs/get (``tasks``, ``job_clusters``,
  ``parameters``, ``environments``) at 100 items; 2.1 returns them whole, with no
  ``has_more``/``next_page_token``.
"""

from __future__ import annotations

from enum import StrEnum

ARRAY_PAGE_SIZE = 100  # 2.2: jobs/get and runs/get return at most 100 items per array


class ApiVersion(StrEnum):
    V2_1 = "2.1"
    V2_2 = "2.2"

    @property
    def queues_by_default(self) -> bool:
        """Whether a job created with this version queues when it sets no ``queue``."""
        return self is ApiVersion.V2_2

    @property
    def array_page_size(self) -> int | None:
        """Items per array in jobs/get and runs/get; None: every item, unpaged."""
        return ARRAY_PAGE_SIZE if self is ApiVersion.V2_2 else None
