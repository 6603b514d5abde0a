"""The durable outbox: claim, send, record, retry with backoff, ordering, offline hold, sweeper,
manual retry."""

from datetime import timedelta

import pytest
import responses
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from connections import outbox
from connections.choices import ConnectionState, MessageStatus, PartnerRole, RegistrationStatus
from connections.lifecycle import partner_transition
from connections.models import Message
from tests.connections.factories import CapacityProviderFactory

BASE = "https://cp.example.com/oscp/cp/2.0"


@pytest.fixture
def partner(db):
    return CapacityProviderFactory(
        base_url=BASE,
        partner_token="partner-token-abcdefgh1234",
        registration_status=RegistrationStatus.REGISTERED,
        connection_state=ConnectionState.ONLINE,
    )


@pytest.fixture
def queued(monkeypatch):
    """Message ids published to the broker by the outbox (on commit): [(message_id, countdown)]."""
    calls = []
    monkeypatch.setattr(outbox, "broker_publish", lambda ids, countdown=0: calls.extend((i, countdown) for i in ids))
    return calls


def deliver(message, capture):
    with capture(execute=True):
        outbox.messages_deliver(message_ids=[message.id])
    message.refresh_from_db()
    return message


@responses.activate
def test_204_marks_the_message_sent_with_its_outcome(partner, make_message, queued, django_capture_on_commit_callbacks):
    responses.post(f"{BASE}/heartbeat", status=204)
    message = deliver(make_message(partner), django_capture_on_commit_callbacks)
    assert message.status == MessageStatus.SENT
    assert message.attempts == 1 and message.http_status == 204
    assert message.completed_at is not None and message.duration_ms is not None
    assert message.url == f"{BASE}/heartbeat"
    assert message.headers["Authorization"] == "Token ••••1234"
    assert queued == []


@responses.activate
@override_settings(OSCP_RETRY_BASE_SECONDS=4, OSCP_RETRY_MAX_SECONDS=600)
def test_5xx_goes_back_to_pending_with_backoff(partner, make_message, queued, django_capture_on_commit_callbacks):
    responses.post(f"{BASE}/heartbeat", status=503)
    before = timezone.now()
    message = deliver(make_message(partner), django_capture_on_commit_callbacks)
    assert message.status == MessageStatus.PENDING
    assert message.http_status == 503 and "503" in message.error
    assert message.completed_at is None
    wait = (message.next_attempt_at - before).total_seconds()
    assert 2 <= wait <= 4.5  # base 4 s, equal jitter: between half and all of it
    assert len(queued) == 1 and queued[0][0] == message.id and 1.5 <= queued[0][1] <= 4


@responses.activate
def test_same_request_id_on_every_attempt(partner, make_message, queued, django_capture_on_commit_callbacks):
    responses.post(f"{BASE}/heartbeat", status=500)
    responses.post(f"{BASE}/heartbeat", status=204)
    message = deliver(make_message(partner), django_capture_on_commit_callbacks)
    message.next_attempt_at = timezone.now()
    message.save()
    message = deliver(message, django_capture_on_commit_callbacks)
    assert message.status == MessageStatus.SENT and message.attempts == 2
    ids = {call.request.headers["X-Request-ID"] for call in responses.calls}
    assert ids == {message.request_id}


@responses.activate
def test_4xx_is_dead_at_once(partner, make_message, queued, django_capture_on_commit_callbacks):
    responses.post(f"{BASE}/heartbeat", status=400, json={"message": "bad offline_mode_at"})
    message = deliver(make_message(partner), django_capture_on_commit_callbacks)
    assert message.status == MessageStatus.DEAD
    assert "bad offline_mode_at" in message.error and message.completed_at is not None
    assert queued == [] and len(responses.calls) == 1


@responses.activate
def test_failure_at_the_deadline_is_dead(partner, make_message, queued, django_capture_on_commit_callbacks):
    responses.post(f"{BASE}/heartbeat", status=502)
    message = make_message(partner)
    message.deadline = timezone.now() + timedelta(milliseconds=1)
    message.save()
    message = deliver(message, django_capture_on_commit_callbacks)
    # Either the deadline passed before sending or after the failed attempt: dead, not retried.
    assert message.status == MessageStatus.DEAD and "deadline" in message.error
    assert queued == []


@responses.activate
def test_a_sent_or_not_yet_due_message_is_not_sent_again(partner, make_message, django_capture_on_commit_callbacks):
    responses.post(f"{BASE}/heartbeat", status=204)
    sent = deliver(make_message(partner), django_capture_on_commit_callbacks)
    deliver(sent, django_capture_on_commit_callbacks)
    later = make_message(partner, next_attempt_at=timezone.now() + timedelta(minutes=5))
    deliver(later, django_capture_on_commit_callbacks)
    assert len(responses.calls) == 1
    assert later.status == MessageStatus.PENDING and later.attempts == 0


@responses.activate
def test_an_outcome_for_a_superseded_attempt_is_ignored(partner, make_message):
    message = make_message(partner)
    [claimed], _ = outbox._claim([message.id], timezone.now())
    message.refresh_from_db()
    message.attempts = claimed.attempts + 1  # the sweeper gave it to another worker meanwhile
    message.save()
    outbox._record([outbox.Outcome(claimed, outbox.client.Delivery(url="x", status=204))], timezone.now())
    message.refresh_from_db()
    assert message.status == MessageStatus.SENDING
    assert not message.delivery_attempts.exists()  # the attempt that counts is the other worker's


@responses.activate
def test_every_attempt_is_logged_with_what_came_back(partner, make_message, queued, django_capture_on_commit_callbacks):
    responses.post(f"{BASE}/heartbeat", status=503, body="busy")
    responses.post(f"{BASE}/heartbeat", status=204)
    message = deliver(make_message(partner), django_capture_on_commit_callbacks)
    message.next_attempt_at = timezone.now()
    message.save()
    message = deliver(message, django_capture_on_commit_callbacks)

    first, second = message.delivery_attempts.order_by("number")
    assert (first.number, first.outcome, first.http_status) == (1, "retry", 503)
    assert "503" in first.error and first.duration_ms is not None
    assert (second.number, second.outcome, second.http_status, second.error) == (2, "sent", 204, "")
    assert first.attempted_at <= second.attempted_at <= message.completed_at


@responses.activate
def test_heartbeat_waits_for_an_earlier_handshake(partner, make_message, queued, django_capture_on_commit_callbacks):
    responses.post(f"{BASE}/handshake", status=204)
    responses.post(f"{BASE}/heartbeat", status=204)
    handshake = make_message(partner, "handshake", {"required_behaviour": {}})
    heartbeat = make_message(partner, "heartbeat")

    heartbeat = deliver(heartbeat, django_capture_on_commit_callbacks)
    assert heartbeat.status == MessageStatus.PENDING and heartbeat.attempts == 0
    assert "handshake" in heartbeat.error and len(responses.calls) == 0

    deliver(handshake, django_capture_on_commit_callbacks)
    assert (heartbeat.id, 0) in queued  # released as soon as the handshake went out
    heartbeat = deliver(heartbeat, django_capture_on_commit_callbacks)
    assert heartbeat.status == MessageStatus.SENT
    assert [c.request.url.rsplit("/", 1)[-1] for c in responses.calls] == ["handshake", "heartbeat"]


@responses.activate
def test_a_dead_handshake_no_longer_blocks(partner, make_message, queued, django_capture_on_commit_callbacks):
    make_message(partner, "handshake", status=MessageStatus.DEAD)
    responses.post(f"{BASE}/heartbeat", status=204)
    assert deliver(make_message(partner), django_capture_on_commit_callbacks).status == MessageStatus.SENT


@responses.activate
def test_offline_partner_gets_only_handshakes_until_online(
    partner, make_message, queued, django_capture_on_commit_callbacks
):
    partner_transition(partner=partner, to=ConnectionState.OFFLINE, reason="test")
    responses.post(f"{BASE}/update_group_measurements", status=204)
    responses.post(f"{BASE}/handshake", status=204)
    report = make_message(partner, "update_group_measurements")

    assert deliver(report, django_capture_on_commit_callbacks).status == MessageStatus.PENDING
    assert "offline" in report.error
    assert outbox.outbox_sweep(now=timezone.now() + timedelta(hours=0.5)) == 0  # the sweeper leaves it waiting

    handshake = deliver(make_message(partner, "handshake"), django_capture_on_commit_callbacks)
    assert handshake.status == MessageStatus.SENT

    with django_capture_on_commit_callbacks(execute=True):
        partner_transition(partner=partner, to=ConnectionState.ONLINE, reason="acknowledged")
    assert (report.id, 0) in queued
    assert deliver(report, django_capture_on_commit_callbacks).status == MessageStatus.SENT


@override_settings(OSCP_OUTBOX_SWEEP_GRACE_SECONDS=60)
def test_sweeper_requeues_overdue_and_stuck_messages_only(
    partner, make_message, queued, django_capture_on_commit_callbacks
):
    now = timezone.now()
    overdue = make_message(partner, next_attempt_at=now - timedelta(seconds=120))
    make_message(partner, next_attempt_at=now - timedelta(seconds=10))  # just queued: not yet
    stuck = make_message(partner, status=MessageStatus.SENDING, next_attempt_at=now - timedelta(seconds=1))
    make_message(partner, status=MessageStatus.SENDING, next_attempt_at=now + timedelta(seconds=60))  # in flight
    make_message(partner, status=MessageStatus.SENT, next_attempt_at=now - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert outbox.outbox_sweep(now=now) == 2
    assert sorted(mid for mid, _ in queued) == sorted([overdue.id, stuck.id])


@responses.activate
def test_stuck_message_is_sent_again_with_the_same_request_id(
    partner, make_message, queued, django_capture_on_commit_callbacks
):
    responses.post(f"{BASE}/heartbeat", status=204)
    message = make_message(partner, status=MessageStatus.SENDING, attempts=1, next_attempt_at=timezone.now())
    message = deliver(message, django_capture_on_commit_callbacks)
    assert message.status == MessageStatus.SENT and message.attempts == 2
    assert responses.calls[0].request.headers["X-Request-ID"] == message.request_id


def test_retry_brings_a_dead_message_back(partner, make_message, queued, django_capture_on_commit_callbacks):
    dead = make_message(partner, status=MessageStatus.DEAD, error="HTTP 400", deadline=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        outbox.message_retry(message=dead)
    dead.refresh_from_db()
    assert dead.status == MessageStatus.PENDING
    assert dead.deadline > timezone.now() + timedelta(hours=1)
    assert queued == [(dead.id, 0)]


def test_retry_refuses_messages_that_are_not_dead(partner, make_message):
    sent = make_message(partner, status=MessageStatus.SENT)
    with pytest.raises(ValidationError) as error:
        outbox.message_retry(message=sent)
    assert "status" in error.value.message_dict
    sent.refresh_from_db()
    assert sent.status == MessageStatus.SENT


@responses.activate
def test_register_reply_accepted_registers_the_partner(db, make_message, queued, django_capture_on_commit_callbacks):
    partner = CapacityProviderFactory(
        base_url=BASE, partner_token="their-token-1234567", connection_state=ConnectionState.REGISTERING
    )
    responses.post(f"{BASE}/register", status=204)
    deliver(make_message(partner, "register", correlation_id="their-register"), django_capture_on_commit_callbacks)
    partner.refresh_from_db()
    assert partner.registration_status == RegistrationStatus.REGISTERED
    assert partner.connection_state == ConnectionState.REGISTERED


@responses.activate
def test_register_reply_accepted_by_an_optimizer_starts_our_handshake(
    db, make_message, queued, django_capture_on_commit_callbacks
):
    partner = CapacityProviderFactory(
        role=PartnerRole.CAPACITY_OPTIMIZER,
        base_url=BASE,
        partner_token="their-token-1234567",
        connection_state=ConnectionState.REGISTERING,
        required_heartbeat_seconds=30,
    )
    responses.post(f"{BASE}/register", status=204)
    deliver(make_message(partner, "register", correlation_id="their-register"), django_capture_on_commit_callbacks)
    partner.refresh_from_db()
    assert partner.connection_state == ConnectionState.HANDSHAKING
    handshake = partner.messages.get(message_type="handshake")
    assert handshake.body == {"required_behaviour": {"heartbeat_interval": 30, "measurement_configuration": []}}


@responses.activate
def test_register_reply_rejected_fails_the_registration(db, make_message, queued, django_capture_on_commit_callbacks):
    partner = CapacityProviderFactory(
        base_url=BASE, partner_token="their-token-1234567", connection_state=ConnectionState.REGISTERING
    )
    responses.post(f"{BASE}/register", status=403)
    deliver(make_message(partner, "register", correlation_id="their-register"), django_capture_on_commit_callbacks)
    partner.refresh_from_db()
    assert partner.registration_status == RegistrationStatus.FAILED
    assert partner.connection_state == ConnectionState.FAILED


def test_backoff_grows_and_is_capped():
    with override_settings(OSCP_RETRY_BASE_SECONDS=2, OSCP_RETRY_MAX_SECONDS=60):
        delays = [outbox.retry_delay(n) for n in range(1, 12)]
    assert 1 <= delays[0] <= 2 and 4 <= delays[2] <= 8
    assert all(30 <= d <= 60 for d in delays[6:])


@responses.activate
def test_in_one_batch_a_heartbeat_still_waits_for_the_handshake_before_it(
    partner, make_message, queued, django_capture_on_commit_callbacks
):
    responses.post(f"{BASE}/handshake", status=204)
    responses.post(f"{BASE}/heartbeat", status=204)
    handshake = make_message(partner, "handshake", {"required_behaviour": {}})
    heartbeat = make_message(partner, "heartbeat")

    with django_capture_on_commit_callbacks(execute=True):
        assert outbox.messages_deliver(message_ids=[heartbeat.id, handshake.id]) == 1

    heartbeat.refresh_from_db()
    assert heartbeat.status == MessageStatus.PENDING and "handshake" in heartbeat.error
    assert [c.request.url.rsplit("/", 1)[-1] for c in responses.calls] == ["handshake"]
    assert (heartbeat.id, 0) in queued  # released by the handshake's delivery


@responses.activate
def test_a_batch_holds_only_the_messages_of_partners_that_must_wait(
    partner, make_message, queued, django_capture_on_commit_callbacks
):
    other = CapacityProviderFactory(
        base_url="https://other.example.com/oscp/2.0",
        partner_token="other-token-abcdefgh1234",
        registration_status=RegistrationStatus.REGISTERED,
        connection_state=ConnectionState.ONLINE,
    )
    partner_transition(partner=partner, to=ConnectionState.OFFLINE, reason="test")
    responses.post("https://other.example.com/oscp/2.0/update_group_measurements", status=204)
    held = make_message(partner, "update_group_measurements")
    sent = make_message(other, "update_group_measurements")

    with django_capture_on_commit_callbacks(execute=True):
        assert outbox.messages_deliver(message_ids=[held.id, sent.id]) == 1

    held.refresh_from_db()
    sent.refresh_from_db()
    assert (held.status, held.attempts, held.error) == (MessageStatus.PENDING, 0, outbox.HELD_OFFLINE)
    assert sent.status == MessageStatus.SENT and len(responses.calls) == 1


def test_enqueue_many_stores_each_message_as_saving_it_would(partner, queued, django_capture_on_commit_callbacks):
    """One INSERT for many: ids in the given order, published on commit, an absent body stored
    as NULL, the creation time set and a sealed body encrypted at rest."""
    built = [outbox.outbox_message(partner=partner, message_type="heartbeat", body={"n": n}) for n in range(3)] + [
        outbox.outbox_message(partner=partner, message_type="heartbeat", body=None, sealed_body="secret-body")
    ]
    with django_capture_on_commit_callbacks(execute=True):
        created = outbox.outbox_enqueue_many(built)
    assert [m.id for m in created] == sorted(m.id for m in created)
    assert [i for i, _ in queued] == [m.id for m in created]
    stored = {m.id: m for m in Message.objects.filter(id__in=[m.id for m in created])}
    assert [stored[m.id].body for m in created] == [{"n": 0}, {"n": 1}, {"n": 2}, None]
    assert Message.objects.filter(id=created[-1].id, body__isnull=True).exists()
    assert all(stored[m.id].created is not None for m in created)
    assert stored[created[-1].id].sealed_body == "secret-body"
    with connection.cursor() as cursor:
        cursor.execute("SELECT sealed_body FROM connections_message WHERE id = %s", [created[-1].id])
        assert "secret-body" not in cursor.fetchone()[0]


def test_bodies_enqueued_together_are_the_rows_one_enqueue_writes(partner, queued, django_capture_on_commit_callbacks):
    now = timezone.now()
    single = outbox.outbox_enqueue(partner=partner, message_type="UpdateGroupMeasurements", body={"n": 0}, now=now)
    items = [(partner.id, None, "UpdateGroupMeasurements", {"n": n, "text": "é \" '"}) for n in range(1, 4)]

    with django_capture_on_commit_callbacks(execute=True):
        ids = outbox.outbox_enqueue_bodies(items, now=now)

    assert [message_id for message_id, _ in queued] == ids  # published on commit
    assert ids == sorted(ids)
    rows = Message.objects.in_bulk(ids)
    assert [rows[message_id].body for message_id in ids] == [body for *_, body in items]
    compared = ["partner_id", "group_id", "direction", "message_type", "status", "url", "method", "headers"]
    compared += ["ordering_key", "sealed_body", "sealed_headers", "next_attempt_at", "deadline", "attempts", "error"]
    single.refresh_from_db()
    for message in rows.values():
        assert {name: getattr(message, name) for name in compared} == {name: getattr(single, name) for name in compared}
    assert len({single.request_id, *(m.request_id for m in rows.values())}) == 4
