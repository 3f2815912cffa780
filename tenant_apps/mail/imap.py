"""A member's own IMAP mailbox, synced by polling: connected (and checked with a real login) by the member,
then every few minutes (tenant_apps.mail.jobs.imap_mailboxes_sync, config/cron.py) each message with a UID
above the last one processed is fetched and goes through the same parsing, matching and threading as mail
to the dropbox (services.inbound_message_process: duplicates are recognized by Message-ID, so a run that
dies half way, or two runs at once, record nothing twice).

The host follows the SMTP server's rule (public addresses unless MAIL_SMTP_ALLOW_PRIVATE_HOSTS, the socket
pinned to the checked address, certificates verified against the system CAs plus MAIL_SMTP_CA_FILE); the
password is sealed at rest and never returned. The folder is opened read-only: nothing on the server
changes (no \\Seen flags).
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import re
import socket
import ssl
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from shared_apps.audit.services import audit_record
from shared_apps.core.errors import AppError, Forbidden, InvalidInput
from shared_apps.core.sealed import SealedValueUnreadable, seal, unseal
from shared_apps.mailroute.receiver import raw_name
from shared_apps.organizations.context import current_organization
from shared_apps.users.models import Role, User
from tenant_apps.mail import services, smtp
from tenant_apps.mail.models import ImapMailbox, ImapSecurity, mail_storage

logger = logging.getLogger(__name__)

TIMEOUT = 30.0
SYNC_BATCH = 200  # messages a run takes from one mailbox; the rest next run
_FETCHED = re.compile(rb"UID (\d+)")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


class ImapFailed(AppError):
    """Connecting to the member's mailbox failed; `code` names the step, the message the server's words."""

    status_code = 400
    code = "imap_failed"
    message = "The mailbox could not be reached."


@dataclass(frozen=True)
class _Server:
    host: str
    port: int
    security: str
    username: str
    password: str
    folder: str


class _PinnedIMAP(imaplib.IMAP4):
    """Connects to the checked addresses whatever host it names (the name still serves for TLS)."""

    addresses: tuple[str, ...] = ()

    def _create_socket(self, timeout: float | None) -> socket.socket:
        error: OSError | None = None
        for address in self.addresses:
            try:
                return socket.create_connection((address, self.port), timeout)
            except OSError as failed:
                error = failed
        raise error or OSError("no address to connect to")


class _PinnedIMAPSSL(imaplib.IMAP4_SSL):
    addresses: tuple[str, ...] = ()

    def _create_socket(self, timeout: float | None) -> socket.socket:
        sock = _PinnedIMAP._create_socket(self, timeout)  # type: ignore[arg-type]
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


def _context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    if settings.MAIL_SMTP_CA_FILE:
        context.load_verify_locations(cafile=settings.MAIL_SMTP_CA_FILE)
    return context


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _open(server: _Server) -> imaplib.IMAP4:
    """Connected, logged in, the folder selected read-only; ImapFailed naming the step otherwise."""
    where = f"{server.host}:{server.port}"
    try:
        addresses = smtp.checked_addresses(server.host, server.port)
    except smtp.SmtpHostRefused as refused:
        raise ImapFailed(refused.message, code=refused.code.replace("smtp_", "imap_")) from None
    client: imaplib.IMAP4 | None = None
    try:
        if server.security == ImapSecurity.TLS:
            ssl_class = type("PinnedIMAPSSL", (_PinnedIMAPSSL,), {"addresses": addresses})
            client = ssl_class(server.host, server.port, ssl_context=_context(), timeout=TIMEOUT)
        else:
            plain_class = type("PinnedIMAP", (_PinnedIMAP,), {"addresses": addresses})
            client = plain_class(server.host, server.port, timeout=TIMEOUT)
            if server.security == ImapSecurity.STARTTLS:
                client.starttls(ssl_context=_context())  # refused when not offered: never plain text
    except (ssl.SSLError, ssl.CertificateError) as error:
        reason = getattr(error, "verify_message", "") or getattr(error, "reason", "") or str(error)
        raise ImapFailed(f"TLS with {where} failed: {reason}"[:400], code="imap_tls_failed") from None
    except imaplib.IMAP4.error as error:
        _close(client)
        raise ImapFailed(f"{where}: {error}"[:400], code="imap_tls_failed") from None
    except TimeoutError:
        raise ImapFailed(f"{where} did not answer in time.", code="imap_timeout") from None
    except OSError as error:
        raise ImapFailed(f"Could not connect to {where}: {error}"[:400], code="imap_connect_failed") from None
    try:
        client.login(server.username, server.password)
    except imaplib.IMAP4.error as error:
        _close(client)
        raise ImapFailed(
            f"{where} refused the username or password: {_text(error)}"[:400], code="imap_auth_failed"
        ) from None
    except OSError as error:
        _close(client)
        raise ImapFailed(
            f"{where} closed the connection: {error}"[:400], code="imap_connect_failed"
        ) from None
    try:
        status, data = client.select(_quoted(server.folder), readonly=True)
    except (imaplib.IMAP4.error, OSError) as error:
        status, data = "NO", [str(error).encode()]
    if status != "OK":
        _close(client)
        raise ImapFailed(
            f"{where} has no folder {server.folder!r}: {_text(data)}"[:400], code="imap_folder_missing"
        )
    return client


def _text(value: Any) -> str:
    if isinstance(value, list | tuple) and value:
        value = value[0]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _close(client: imaplib.IMAP4 | None) -> None:
    if client is None:
        return
    with contextlib.suppress(imaplib.IMAP4.error, OSError):
        client.logout()


def _clean(changes: dict[str, Any]) -> _Server:
    host = services._host(services._text(changes, "host", 253), "host") if changes.get("host") else ""
    if not host:
        raise InvalidInput("host", "The mailbox's IMAP host is required.", code="required")
    port = changes.get("port", 993)
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise InvalidInput("port", "A port number, 1 to 65535.")
    security = changes.get("security", ImapSecurity.TLS)
    if security not in ImapSecurity.values:
        raise InvalidInput("security", f"One of {', '.join(ImapSecurity.values)}.")
    username = services._text(changes, "username", 254) if "username" in changes else ""
    if not username:
        raise InvalidInput("username", "Required.", code="required")
    password = changes.get("password")
    if not isinstance(password, str) or not password or len(password) > 500:
        raise InvalidInput("password", "Required, at most 500 characters.", code="required")
    folder = services._text(changes, "folder", 200) if changes.get("folder") else "INBOX"
    return _Server(host, port, security, username, password, folder)


def imap_mailbox_connect(*, actor: User, changes: dict[str, Any]) -> ImapMailbox:
    """Connect `actor`'s own mailbox (replacing the one they had): the server is tried with a real login and
    the folder opened before anything is saved (ImapFailed naming the step otherwise). Reps and above:
    what it syncs lands on timelines. Syncing starts from the folder's first message."""
    if actor.role == Role.VIEWER:
        raise Forbidden("Your role (viewer) can look but not change anything.", code="read_only")
    server = _clean(changes)
    _close(_open(server))
    with transaction.atomic():
        existing = ImapMailbox.objects.select_for_update().filter(user=actor).first()
        same = existing is not None and (existing.host, existing.username, existing.folder) == (
            server.host,
            server.username,
            server.folder,
        )
        mailbox = existing or ImapMailbox(user=actor)
        mailbox.host, mailbox.port, mailbox.security = server.host, server.port, server.security
        mailbox.username, mailbox.folder = server.username, server.folder
        mailbox.password_secret = seal(server.password)
        mailbox.enabled, mailbox.last_error = True, ""
        if not same:  # another mailbox: its UIDs mean nothing here
            mailbox.uid_validity, mailbox.last_uid = None, 0
        mailbox.save()
        audit_record(
            "imap_mailbox.connected",
            actor=actor,
            target=mailbox,
            changes={"host": server.host, "username": server.username, "folder": server.folder},
        )
    return mailbox


@transaction.atomic
def imap_mailbox_disconnect(*, actor: User) -> bool:
    """Forget `actor`'s mailbox (and its password); what it synced stays on the timelines."""
    mailbox = ImapMailbox.objects.filter(user=actor).first()
    if mailbox is None:
        return False
    audit_record("imap_mailbox.disconnected", actor=actor, target=mailbox)
    mailbox.delete()
    return True


def imap_mailbox_sync(*, mailbox_id: int) -> dict[str, Any]:
    """Fetch and process the messages of one mailbox above its last UID (at most SYNC_BATCH a run; over
    INBOUND_MAX_BYTES skipped). A failure is kept in `last_error` (the member sees it), never raised: the
    other mailboxes of the organization still sync."""
    mailbox = ImapMailbox.objects.filter(pk=mailbox_id, enabled=True).first()
    if mailbox is None:
        return {"synced": 0, "skipped": 0, "error": "gone"}
    counts = {"synced": 0, "skipped": 0}
    error = ""
    try:
        server = _Server(
            mailbox.host,
            mailbox.port,
            mailbox.security,
            mailbox.username,
            unseal(mailbox.password_secret),
            mailbox.folder,
        )
        client = _open(server)
        try:
            _pull(client, mailbox, counts)
        finally:
            _close(client)
    except SealedValueUnreadable:
        error = "The stored password cannot be read: connect the mailbox again."
    except ImapFailed as failure:
        error = failure.message
    except (imaplib.IMAP4.error, OSError) as failure:
        error = f"{type(failure).__name__}: {failure}"
    ImapMailbox.objects.filter(pk=mailbox.pk).update(
        last_synced_at=timezone.now(),
        last_error=error[:500],
        messages_synced=F("messages_synced") + counts["synced"],
    )
    if error:
        logger.info("imap: mailbox %s: %s", mailbox.pk, error)
    return {**counts, "error": error}


def _pull(client: imaplib.IMAP4, mailbox: ImapMailbox, counts: dict[str, int]) -> None:
    validity_answer = client.response("UIDVALIDITY")[1]
    validity = int(validity_answer[0]) if validity_answer and validity_answer[0] else None
    last_uid = mailbox.last_uid if mailbox.uid_validity == validity else 0
    if mailbox.uid_validity != validity:
        ImapMailbox.objects.filter(pk=mailbox.pk).update(uid_validity=validity, last_uid=0)
    status, data = client.uid("SEARCH", None, f"UID {last_uid + 1}:*")  # type: ignore[arg-type]
    if status != "OK":
        raise ImapFailed(f"SEARCH failed: {_text(data)}"[:400], code="imap_search_failed")
    # "n:*" names the last message even below n: keep only the new ones
    uids = sorted(int(uid) for uid in (data[0] or b"").split() if int(uid) > last_uid)[:SYNC_BATCH]
    if not uids:
        return
    sizes: dict[int, int] = {}
    status, data = client.uid("FETCH", ",".join(map(str, uids)), "(RFC822.SIZE)")
    for line in data if status == "OK" else []:
        text = line if isinstance(line, bytes) else line[0] if isinstance(line, tuple) else b""
        found_uid, found_size = _FETCHED.search(text), _SIZE.search(text)
        if found_uid and found_size:
            sizes[int(found_uid[1])] = int(found_size[1])
    organization_id = int(current_organization().pk)
    for uid in uids:
        if sizes.get(uid, 0) > settings.INBOUND_MAX_BYTES:
            counts["skipped"] += 1
        else:
            raw = _fetch(client, uid)
            if raw is None:
                counts["skipped"] += 1
            else:
                name = mail_storage().save(raw_name(organization_id), ContentFile(raw))
                services.inbound_message_process(raw_name=name, routes=[])
                counts["synced"] += 1
        ImapMailbox.objects.filter(pk=mailbox.pk).update(last_uid=uid, uid_validity=validity)


def _fetch(client: imaplib.IMAP4, uid: int) -> bytes | None:
    status, data = client.uid("FETCH", str(uid), "(BODY.PEEK[])")
    if status != "OK":
        return None
    for item in data:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
            return item[1]
    return None
