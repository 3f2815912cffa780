"""A browser's side of signing in at the test provider, driven with requests: its sign-in form and consent
page."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin

import requests

PROVIDER_PASSWORD = "provider-pass-2026"


class _Inputs(HTMLParser):
    """The named inputs of the page's first form, and its action."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.action: str | None = None
        self._forms = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            self._forms += 1
            if self._forms == 1:
                self.action = values.get("action")
        elif tag == "input" and self._forms == 1 and values.get("name"):
            if values.get("type") in ("submit", "checkbox"):
                return
            self.fields[str(values["name"])] = values.get("value") or ""


def _form(response: requests.Response) -> tuple[str, dict[str, str]]:
    parser = _Inputs()
    parser.feed(response.text)
    return urljoin(response.url, parser.action or response.url), parser.fields


def browser_sign_in(
    authorize_url: str, username: str, *, consent: bool = True, browser: requests.Session | None = None
) -> str:
    """What a person does at the provider: open the authorization URL, sign in (unless `browser` is signed in
    there already), consent. Returns the URL the provider sends the browser back to (our callback with code
    and state), not followed."""
    browser = browser or requests.Session()
    response = browser.get(authorize_url, allow_redirects=True, timeout=10)
    action, fields = _form(response)
    if "password" in fields:  # the provider's sign-in form
        fields.update(username=username, password=PROVIDER_PASSWORD)
        response = browser.post(action, data=fields, allow_redirects=True, timeout=10)
    assert response.status_code == 200, response.text[:500]
    action, fields = _form(response)  # the consent page
    if consent:
        fields["allow"] = "Authorize"
    response = browser.post(action, data=fields, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text[:500]
    return response.headers["Location"]
