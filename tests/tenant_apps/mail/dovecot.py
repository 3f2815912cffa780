"""A real IMAP server for the tests: Debian's dovecot (`make test` installs dovecot-imapd when missing, as
root), run as a subprocess with a configuration in a temporary directory, on a free port, users in a
passwd-file, mail in Maildirs. The tests that need it skip, saying so, only when dovecot is not installed."""

from __future__ import annotations

import imaplib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.tenant_apps.mail.inbound import _free_port

DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else "")
USERS = {"alice@imap.test": "alice-pass", "bob@imap.test": "bob-pass", "gina@imap.test": "gina-pass"}
MAIL_UID = 65534  # nobody: dovecot refuses to run mail processes as root

CONFIG = """
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
instance_name = leadpulse-test-{instance}
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={uid} home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


@dataclass
class Dovecot:
    port: int
    root: Path

    def client(self, user: str) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        client.login(user, USERS[user])
        return client

    def append(self, user: str, raw: bytes, folder: str = "INBOX") -> None:
        client = self.client(user)
        try:
            status, data = client.append(folder, None, None, raw)
            assert status == "OK", data
        finally:
            client.logout()

    def empty(self, user: str) -> None:
        """Every folder of `user` emptied, and a new UIDVALIDITY (the Maildir made anew). Dovecot takes a new
        mailbox's UIDVALIDITY from the clock in seconds: the next second is waited for, or a mailbox made anew
        within the second its predecessor was made would keep its UIDVALIDITY."""
        shutil.rmtree(self.root / "mail" / user, ignore_errors=True)
        time.sleep(1.1)


@pytest.fixture(scope="session")
def _dovecot() -> Iterator[Dovecot]:
    if not DOVECOT:
        pytest.skip("dovecot is not installed (apt-get install dovecot-imapd; `make test` does it as root)")
    root = Path(tempfile.mkdtemp(prefix="leadpulse-dovecot-"))
    root.chmod(0o755)  # dovecot's own unprivileged processes walk it
    for name in ("run", "state", "mail"):
        (root / name).mkdir()
    os.chown(root / "mail", MAIL_UID, MAIL_UID)
    (root / "users").write_text("".join(f"{user}:{{PLAIN}}{password}\n" for user, password in USERS.items()))
    port = _free_port()
    config = root / "dovecot.conf"
    config.write_text(CONFIG.format(root=root, port=port, uid=MAIL_UID, instance=uuid.uuid4().hex[:8]))
    process = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                imaplib.IMAP4("127.0.0.1", port, timeout=2).logout()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
                    raise RuntimeError(f"dovecot did not start: {log[-2000:]}") from None
                time.sleep(0.1)
        yield Dovecot(port=port, root=root)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def dovecot(_dovecot: Dovecot) -> Iterator[Dovecot]:
    """The server with every user's mail emptied before and after."""
    for user in USERS:
        _dovecot.empty(user)
    yield _dovecot
    for user in USERS:
        _dovecot.empty(user)
