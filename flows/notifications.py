"""A failed or crashed run notifies someone: a Prefect automation on the server, created by
`biblioduck notify-failures URL`, posts each failure to a webhook (Slack, Teams, a pager…)
through a `CustomWebhookNotificationBlock` (which keeps the URL as a secret)."""

from __future__ import annotations

from typing import Any

from schemas.errors import UsageError

BLOCK_NAME = "biblioduck-failures"
AUTOMATION_NAME = "biblioduck: a run failed"
# Prefect's events for a flow run that ended badly.
FAILED_EVENTS = {"prefect.flow-run.Failed", "prefect.flow-run.Crashed"}


def notify_failures(webhook_url: str) -> dict[str, Any]:
    """Create (or replace) the webhook block and the automation that uses it; returns their
    ids. Needs a Prefect server (`PREFECT_API_URL`)."""
    from flows.orchestration import api_configured

    if not api_configured():
        raise UsageError(
            "notify-failures needs a Prefect server: set PREFECT_API_URL (runs without one "
            "are in the warehouse's runs table, and their command exits 1)"
        )
    from prefect.automations import Automation
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.events.actions import SendNotification
    from prefect.events.schemas.automations import EventTrigger, Posture

    # Prefect's sync/async dual methods defeat the type checker: these are plain objects here.
    block: Any = CustomWebhookNotificationBlock(  # type: ignore[call-arg]
        name="biblioduck",
        url=webhook_url,
        json_data={"text": "{{subject}}\n{{body}}"},
    )
    block_id = block.save(BLOCK_NAME, overwrite=True)
    try:
        existing: Any = Automation.read(name=AUTOMATION_NAME)
    except ValueError:  # none yet
        existing = None
    if existing is not None:
        existing.delete()
    automation: Any = Automation(
        name=AUTOMATION_NAME,
        description="Posts every failed or crashed biblioduck run to the configured webhook.",
        trigger=EventTrigger(
            expect=FAILED_EVENTS,
            match={"prefect.resource.id": "prefect.flow-run.*"},
            posture=Posture.Reactive,
            threshold=1,
        ),
        actions=[
            SendNotification(
                block_document_id=block_id,
                subject="biblioduck: {{ flow.name }} run {{ flow_run.name }} {{ event.event }}",
                body="{{ flow_run.state.message }}",
            )
        ],
    ).create()
    return {"block": str(block_id), "automation": str(automation.id)}
