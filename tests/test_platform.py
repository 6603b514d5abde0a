import pytest
from django.core.management import call_command

from connections.selectors import partner_for_token
from connections.services import inbound_token_issue, partner_token_rotate
from oscp_platform.crypto import decrypt, encrypt, token_digest
from tests.connections.factories import CapacityProviderFactory


def test_health_reports_database_and_broker(client, db):
    response = client.get("/health/")
    body = response.json()
    assert body["checks"]["database"] == "ok"
    assert set(body["checks"]) == {"database", "broker"}


def test_schema_builds_without_warnings(capsys):
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", "/dev/null")


@pytest.mark.django_db
def test_partner_token_stored_only_as_digest():
    partner = CapacityProviderFactory()
    token = inbound_token_issue(partner=partner)
    record = partner.inbound_tokens.get()
    assert record.digest == token_digest(token) != token
    assert record.last4 == token[-4:]
    assert partner_for_token(token=token) == partner
    assert partner_for_token(token=token + "x") is None


@pytest.mark.django_db
def test_rotation_retires_the_old_token():
    partner = CapacityProviderFactory()
    old = inbound_token_issue(partner=partner)
    new = partner_token_rotate(partner=partner)
    assert partner_for_token(token=old) is None
    assert partner_for_token(token=new) == partner


@pytest.mark.django_db
def test_secret_fields_are_encrypted_at_rest():
    from django.db import connection

    partner = CapacityProviderFactory(oauth_client_secret="Secret.123")
    with connection.cursor() as cursor:
        cursor.execute("SELECT oauth_client_secret FROM connections_partner WHERE id = %s", [partner.id])
        stored = cursor.fetchone()[0]
    assert "Secret.123" not in stored
    assert decrypt(stored) == "Secret.123"
    assert encrypt("x") != encrypt("x")  # fresh IV each time
    partner.refresh_from_db()
    assert partner.oauth_client_secret == "Secret.123"
    assert not hasattr(partner.history.first(), "oauth_client_secret")


@pytest.mark.django_db
def test_every_periodic_job_is_a_registered_task_and_visible_in_the_admin(admin_client):
    from django.conf import settings
    from django_celery_beat.models import PeriodicTask

    from oscp_platform.celery import app

    app.loader.import_default_modules()
    declared = {name: entry["task"] for name, entry in settings.CELERY_BEAT_SCHEDULE.items()}
    assert set(declared.values()) <= set(app.tasks), "a declared periodic job names no task"

    call_command("sync_periodic_tasks")
    call_command("sync_periodic_tasks")  # idempotent
    assert dict(PeriodicTask.objects.values_list("name", "task")) == declared
    page = admin_client.get("/admin/django_celery_beat/periodictask/").content.decode()
    assert all(name in page for name in declared)


@pytest.mark.django_db
def test_api_keys_are_masked_in_the_admin_and_shown_once(admin_client, admin_user):
    from rest_framework.authtoken.models import Token

    from tests.connections.factories import UserFactory

    other = Token.objects.create(user=UserFactory())
    listing = admin_client.get("/admin/authtoken/tokenproxy/").content.decode()
    assert other.key not in listing and other.key[-4:] in listing
    page = admin_client.get(f"/admin/authtoken/tokenproxy/{other.pk}/change/").content.decode()
    assert other.key not in page

    response = admin_client.post("/admin/authtoken/tokenproxy/add/", {"user": admin_user.pk}, follow=True)
    created = Token.objects.get(user=admin_user)
    assert created.key in response.content.decode()  # once, in the message
    assert created.key not in admin_client.get("/admin/authtoken/tokenproxy/").content.decode()
