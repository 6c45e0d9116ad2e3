"""Which webhook event an ended run or task run raises, as the Jobs docs describe it.

- Success is SUCCESS or "succeeded with failures" (and the other results that count as
  success); anything else ends in ``on_failure``: failed, timed out, cancelled, skipped.
- ``no_alert_for_skipped_runs`` / ``no_alert_for_canceled_runs`` mute ``on_failure`` for
  a skipped (over ``max_concurrent_runs``) or cancelled run or task run.
- A task's ``alert_on_last_attempt`` mutes ``on_start`` of its retries and ``on_failure``
  of every attempt that will be retried. Job-level events concern the run, so a retried
  task failure never raises one.

Pure functions of data: the caller looks the settings up and sends what comes out.
"""

from __future__ import annotations

from ._states import SUCCESSFUL_RESULTS, ResultState
from ._webhook_settings import NotificationEvent, NotificationSettings


def run_end_event(result: ResultState, settings: NotificationSettings) -> NotificationEvent | None:
    if result in SUCCESSFUL_RESULTS:
        return NotificationEvent.ON_SUCCESS
    if _muted(result, settings):
        return None
    return NotificationEvent.ON_FAILURE


def task_end_event(
    result: ResultState, settings: NotificationSettings, *, will_retry: bool
) -> NotificationEvent | None:
    if result in SUCCESSFUL_RESULTS:
        return NotificationEvent.ON_SUCCESS
    if _muted(result, settings) or (will_retry and settings.alert_on_last_attempt):
        return None
    return NotificationEvent.ON_FAILURE


def task_start_notified(attempt_number: int, settings: NotificationSettings) -> bool:
    return attempt_number == 0 or not settings.alert_on_last_attempt


def _muted(result: ResultState, settings: NotificationSettings) -> bool:
    if result is ResultState.MAXIMUM_CONCURRENT_RUNS_REACHED:
        return settings.no_alert_for_skipped_runs
    if result is ResultState.CANCELED:
        return settings.no_alert_for_canceled_runs
    return False
