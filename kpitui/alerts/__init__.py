"""Alerts, trigger health and digests: kpitui tells people when something needs them.

- :mod:`.spec`: the ``[notifiers.ID]``, ``[alerts.ID]`` and ``[digests.ID]`` tables, validated;
- :mod:`.rules`: what each rule observes (status changes, conditions, failing or stale sources);
- :mod:`.trigger_health`: the ``silent`` rule (a key metric quieter than its history makes plausible);
- :mod:`.state`: alert state and the durable outbox, in the history file;
- :mod:`.deliver`: the delivery thread (retries with back-off, quiet hours, timeouts);
- :mod:`.digest`: schedules and the Markdown/HTML scorecard;
- :mod:`.service`: ties them together for ``kpitui collect``, ``kpitui alerts`` and the TUI.

Headless: nothing here imports Textual.
"""
