"""Delivery metrics of one application repository, computed from GitHub's own records.

The package runs standalone in the application repository (the dev stack commits it there as
one wheel, ``.github/delivery-metrics/delivery_metrics-<__version__>-py3-none-any.whl.b64``,
whose checksum the scheduled ``metrics.yml`` workflow verifies before installing it): python3
plus the pinned ``requirements.txt`` (githubkit), never pulumi or this project's
``components``. Bump :data:`__version__` with every change of behaviour.

Layout: ``records`` (typed records parsed from GitHub's documented JSON shapes), ``compute``
(pure functions: the figures), ``coverage`` (coverage summaries inside CI artifacts), ``report``
(job-summary Markdown and the Prometheus exposition), ``github`` (the thin I/O part: githubkit
with Link-header pagination, and the Pushgateway push), ``__main__`` (the command).

Records this module expects (the contract with the deploy workflows)
--------------------------------------------------------------------

CI (build success rate, coverage)
    Workflow runs of ``ci.yml`` with ``event`` ``push`` on the default branch. A run is counted
    once, by its id, with the conclusion of its latest attempt (``run_attempt``): a red build
    that went green on a re-run counts as a success, and re-runs are counted separately.
    ``success`` passes; ``failure``, ``timed_out`` and ``startup_failure`` fail; ``cancelled``,
    ``skipped``, ``neutral``, ``action_required`` and ``stale`` are left out (no verdict).
    Coverage comes from the run's artifacts named ``coverage-<package>`` (the CI test job uploads
    them): Istanbul's ``coverage-summary.json`` (``total.lines.covered/total``), else
    ``lcov.info`` (sum of ``LH``/``LF``). Line coverage of the run = covered / total lines over
    all packages.

Deployments (frequency, lead time, change failure rate, time to restore)
    One GitHub deployment per deploy, ``environment`` being the GitHub environment name
    (``development``, ``staging``, ``production`` by default), ``sha`` the deployed commit,
    ``payload.digest`` the released image digest (components/workflows/custody.py writes it).
    Only those records (and rollback records, below) count: GitHub also creates a deployment
    for every job that names an environment, with an empty payload; counting them would count
    each release twice and every refused or skipped environment job as a deploy.
    Statuses used: ``success`` (healthy), ``failure`` and ``error`` (the deploy failed, or a
    rollback marked it failed afterwards); ``inactive`` (GitHub sets it on the previous
    deployment when a newer one succeeds), ``queued``, ``pending`` and ``in_progress`` carry no
    verdict. A deployment's outcome is its latest verdict status: a deployment that reported
    ``success`` and later ``failure`` (health check failing after full promotion, then rollback)
    is a failed change. A deployment with no verdict status (still running, or statuses missing)
    is left out. Only a deployment whose deploy job ran is a change: one with an
    ``in_progress``, ``success`` or ``failure`` status. A release refused or cancelled at approval
    never runs; its record ends ``error`` ("not deployed: ...") or ``inactive``, and it counts
    nowhere (it opens no incident either).

    A rollback is recorded by the deploy workflows in one of two ways, both understood:

    - the rolled-back deployment gets a ``failure`` status (description ``rolled back ...``);
    - a new deployment re-deploys the previous version with ``task`` ``deploy:rollback`` and/or
      ``payload`` ``{"rollback_of": <id of the rolled-back deployment>}``. Such a deployment is
      not a change: it restores service (its ``success`` ends an incident) and marks the
      deployment it names as failed, but it counts in neither frequency nor lead time.

Figures, per environment and window (a window is ``[end - N days, end)``; the trend compares it
with the N days before). Membership is by the deployment's ``created_at``; incidents by the
time they started.

- deployments: change deployments that reached ``success`` (even if rolled back later);
- lead time for changes: for each such deployment, every commit it brought (``compare`` from
  the previous successful change deployment of the same environment; the deployed commit alone
  when there is none), from the commit's committer date to the deployment's first ``success``;
  median and p90 (nearest rank) over all those commits;
- change failure rate: failed change deployments / change deployments with a verdict;
- time to restore: an incident starts when a failed change broke the environment: when the
  run that failed it started (its last ``in_progress`` after its last ``success``), or at the
  failure if it was healthy until then (a health check failing after it); it ends at the first record of restored
  service: the failed job's own rollback or canary abort reaching healthy (its ``failure``
  description, :data:`records.RESTORED_IN_JOB`), a rollback deployment's ``success``, or the
  next ``success`` of any deployment that ran. The mean over incidents that ended (open ones are
  counted); a failure while an incident is open belongs to it.
- DORA band of each of the four figures: :mod:`delivery_metrics.dora`.
"""

from typing import Final

__version__: Final = "2.0.0"
"""The wheel's version (1.x was the nine copied files)."""
