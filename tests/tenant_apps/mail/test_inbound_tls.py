"""STARTTLS on the inbound receiver (INBOUND_TLS_CERT / INBOUND_TLS_KEY): a client upgrades with smtplib's
starttls, verifying the certificate, and the message lands as any other; without a certificate nothing is
offered, and half a configuration refuses to start."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email import policy

import pytest
from asgiref.sync import sync_to_async
from django.core.exceptions import ImproperlyConfigured
from django_tenants.utils import schema_context

from shared_apps.mailroute.server import controller
from shared_apps.organizations import placement
from tenant_apps.activities.models import Activity, ActivityType
from tests.tenant_apps.mail.inbound import _free_port, email
from tests.tenant_apps.mail.orgsmtp import self_signed


@pytest.fixture
def tls_receiver(receiver, settings, tmp_path):
    """A second receiver, with STARTTLS, on a free port: (port, its certificate's path)."""
    cert, key = self_signed(tmp_path, host="localhost")
    settings.INBOUND_TLS_CERT, settings.INBOUND_TLS_KEY = str(cert), str(key)
    port = _free_port()
    server = controller(host="127.0.0.1", port=port)
    server.start()
    try:
        yield port, cert
    finally:
        asyncio.run_coroutine_threadsafe(sync_to_async(placement.close_all)(), server.loop).result(10)
        server.stop()


def test_a_client_upgrades_with_starttls_and_the_message_lands(
    org, receiver, tls_receiver, run_jobs, make_lead
):
    port, cert = tls_receiver
    jane = make_lead(name="Jane Doe", email="jane@customer.test")
    message = email(
        sender="Jane <jane@customer.test>", to=receiver.dropboxes["acme"], message_id="<tls-1@c.test>"
    )
    context = ssl.create_default_context(cafile=str(cert))
    with smtplib.SMTP("localhost", port, timeout=30) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        client.starttls(context=context)  # verifies the certificate for "localhost"
        assert isinstance(client.sock, ssl.SSLSocket) and client.sock.version() in ("TLSv1.2", "TLSv1.3")
        client.ehlo()
        refused = client.sendmail(
            "jane@customer.test", [receiver.dropboxes["acme"]], message.as_bytes(policy=policy.SMTP)
        )
    assert refused == {}
    run_jobs()
    with schema_context(org.schema_name):
        [recorded] = Activity.objects.filter(lead=jane, type=ActivityType.EMAIL)
    assert recorded.message_id == "<tls-1@c.test>"


def test_plain_text_clients_are_still_accepted(org, receiver, tls_receiver, run_jobs):
    port, _cert = tls_receiver
    message = email(to=receiver.dropboxes["acme"], message_id="<plain-1@c.test>")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        assert client.sendmail("a@c.test", [receiver.dropboxes["acme"]], message.as_bytes()) == {}


def test_without_a_certificate_starttls_is_not_offered(receiver):
    with receiver.client() as client:
        client.ehlo()
        assert not client.has_extn("starttls")


def test_a_certificate_without_its_key_refuses_to_start(settings, tmp_path):
    cert, _key = self_signed(tmp_path)
    settings.INBOUND_TLS_CERT, settings.INBOUND_TLS_KEY = str(cert), ""
    with pytest.raises(ImproperlyConfigured):
        controller(host="127.0.0.1", port=_free_port())
