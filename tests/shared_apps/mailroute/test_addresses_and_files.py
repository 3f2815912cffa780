"""Inbound addresses map back to their live organization from the public schema alone; mail files are
filed under the organization's id and removed with its other leftovers."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages

from shared_apps.mailroute.addresses import DROPBOX, REPLY, dropbox_address, reply_address, resolve
from shared_apps.mailroute.receiver import raw_name
from shared_apps.organizations import namespace
from shared_apps.organizations.models import Organization, OrganizationStatus

pytestmark = pytest.mark.usefixtures("public")


def test_the_dropbox_is_made_once_and_leads_back_to_its_organization(org, other_org, settings):
    address = dropbox_address(org)
    assert dropbox_address(org) == address
    local_part, _, domain = address.partition("@")
    assert domain == settings.INBOUND_DOMAIN
    assert local_part.startswith("acme-") and len(local_part) == len("acme-") + 8
    assert dropbox_address(other_org) != address
    for written in (address, address.upper(), f"Acme Inbox <{address}>"):
        route = resolve(written)
        assert route is not None and route.organization == org and route.kind == DROPBOX, written
    assert resolve(address.replace("@", "@mail.")) is None  # another domain
    assert resolve(f"acme@{domain}") is None  # the slug alone is not the address


@pytest.mark.parametrize("status", [OrganizationStatus.SUSPENDED, OrganizationStatus.DELETED])
def test_an_organization_that_is_not_active_receives_nothing(org, status):
    address, reply = dropbox_address(org), reply_address(org, 7)
    Organization.objects.filter(pk=org.pk).update(status=status)
    assert resolve(address) is None and resolve(reply) is None


def test_reply_addresses_are_signed_for_one_organization_and_one_thread(org, other_org):
    address = reply_address(org, 42)
    route = resolve(address)
    assert route is not None and route.organization == org and route.kind == REPLY and route.reference == 42
    local_part, _, domain = address.partition("@")
    _prefix, organization_id, reference, signature = local_part.replace("+", "-").split("-")
    assert len(local_part) <= 64
    forged = [
        f"reply+{other_org.pk}-{reference}-{signature}@{domain}",  # another organization, same signature
        f"reply+{organization_id}-43-{signature}@{domain}",  # another thread
        f"reply+{organization_id}-{reference}-{'0' * len(signature)}@{domain}",
        f"reply+{organization_id}-{reference}@{domain}",
    ]
    assert [resolve(candidate) for candidate in forged] == [None] * len(forged)


def test_purging_removes_the_organizations_mail_files_and_no_one_elses(org, other_org, settings, tmp_path):
    settings.EXPORTS_DIR = tmp_path
    storage = storages["mail"]
    ours = storage.save(raw_name(org.pk), ContentFile(b"From: a@b\r\n\r\nours"))
    attachment = storage.save(f"{org.pk}/attachments/x/file.pdf", ContentFile(b"%PDF"))
    theirs = storage.save(raw_name(other_org.pk), ContentFile(b"From: a@b\r\n\r\ntheirs"))
    namespace.leftovers_remove(org.pk)
    assert not storage.exists(ours) and not storage.exists(attachment)
    assert storage.exists(theirs)
    storage.delete(theirs)


def test_the_receiver_resolves_each_recipient_once_in_a_while(org, settings, django_assert_num_queries):
    from shared_apps.mailroute import receiver

    receiver._routes.clear()
    address, ghost = dropbox_address(org), f"ghost@{settings.INBOUND_DOMAIN}"
    first, unknown = receiver._resolve(address), receiver._resolve(ghost)
    assert first is not None and first.organization == org and unknown is None
    with django_assert_num_queries(0):  # known and unknown alike, until ROUTE_TTL passes
        assert receiver._resolve(address.upper()) == first
        assert receiver._resolve(ghost) is None
    receiver._routes.clear()


def test_messages_stored_together_share_one_job_per_organization(org, other_org):
    """The receiver's batcher: three sessions' messages within one window, for two organizations, wait on
    their organizations' pending lists with one drain job per organization, and each session is answered
    only once its message waits with its job queued."""
    import asyncio

    import django_rq

    from shared_apps.mailroute import pending
    from shared_apps.mailroute.addresses import resolve
    from shared_apps.mailroute.receiver import Batcher, store

    queue = django_rq.get_queue("default")
    queue.empty()
    ours = [(dropbox_address(org), resolve(dropbox_address(org)))]
    theirs = [(dropbox_address(other_org), resolve(dropbox_address(other_org)))]

    async def sessions() -> None:
        batcher = Batcher(window=0.2)
        stored = [
            store(content=b"Subject: 1\r\n\r\none", routes=ours, mail_from="a@b.test"),
            store(content=b"Subject: 2\r\n\r\ntwo", routes=ours, mail_from="a@b.test"),
            store(content=b"Subject: 3\r\n\r\nthree", routes=ours + theirs, mail_from="a@b.test"),
        ]
        await asyncio.gather(*(batcher.submit(items) for items in stored))
        assert queue.count == 2  # queued before any session was answered

    asyncio.run(sessions())
    jobs = {job.meta["organization"]: job for job in queue.jobs}
    assert {job.func_name for job in jobs.values()} == {"tenant_apps.mail.jobs.inbound_messages_drain"}
    assert len(pending.take(org.schema_name, "test")) == 3
    assert [message["recipients"] for message in pending.take(other_org.schema_name, "test")] == [
        [theirs[0][0]]
    ]
    queue.empty()
