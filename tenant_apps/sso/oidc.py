"""The OpenID Connect client (authlib): discovery, the authorization request (state, nonce, PKCE S256), the
code exchange and the ID token's verification against the provider's published keys.

Every request to the provider goes through `ProviderSession`: a timeout, no redirects followed, and the host
must resolve to public addresses only (the webhooks' rule) unless SSO_ALLOW_PRIVATE_ISSUERS says otherwise,
so an organization's admin cannot point the server at its own network."""

from __future__ import annotations

import ipaddress
import secrets
import time
from dataclasses import dataclass
from typing import Any

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from authlib.oidc.discovery import OpenIDProviderMetadata, get_well_known_url
from django.conf import settings
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from shared_apps.core.errors import InvalidInput
from tenant_apps.sso.exceptions import ProviderUnreachable, SsoFailed
from tenant_apps.webhooks.transport import AddressRefused, target

SCOPE = "openid email profile"
MAX_DOCUMENT_BYTES = 256 * 1024
# Signing algorithms accepted for ID tokens: asymmetric only (an HS256 token would be keyed by the client
# secret, which the organization's admin also holds), and never "none".
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]


def check_address(url: str) -> None:
    """AddressRefused unless the URL is http(s) and its host resolves to allowed addresses only (with
    SSO_LOOPBACK_ISSUERS_ONLY, the test suite's setting, to this machine only: a fuzzed issuer reaches
    nobody)."""
    addresses = target(url, allow_private=settings.SSO_ALLOW_PRIVATE_ISSUERS).addresses
    if settings.SSO_LOOPBACK_ISSUERS_ONLY:
        outside = [address for address in addresses if not ipaddress.ip_address(address).is_loopback]
        if outside:
            raise AddressRefused(
                f"Only loopback addresses are allowed here, not {outside[0]}.", code="not_loopback"
            )


class ProviderSession(OAuth2Session):
    """authlib's requests session, each request checked (address), bounded (timeout) and not redirected."""

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        try:
            check_address(url)
        except AddressRefused as refused:
            raise ProviderUnreachable(refused.message, code=refused.code) from None
        kwargs["timeout"] = settings.SSO_HTTP_TIMEOUT
        kwargs["allow_redirects"] = False
        kwargs["stream"] = True
        deadline = time.monotonic() + 2 * settings.SSO_HTTP_TIMEOUT
        try:
            response = super().request(method, url, *args, **kwargs)
            # read at most MAX_DOCUMENT_BYTES, in bounded time, before anyone (authlib included) parses it
            body = bytearray()
            with response:
                for chunk in response.iter_content(64 * 1024):
                    body += chunk
                    if len(body) > MAX_DOCUMENT_BYTES or time.monotonic() > deadline:
                        raise ProviderUnreachable("The identity provider's answer is too large or too slow.")
        except requests.RequestException as failed:
            raise ProviderUnreachable(
                f"The identity provider did not answer: {type(failed).__name__}."
            ) from None
        response._content = bytes(body)
        return response


def _json(response: requests.Response, what: str) -> dict[str, Any]:
    if response.status_code != 200:
        raise ProviderUnreachable(f"The {what} answered {response.status_code}.", status=response.status_code)
    try:
        data = response.json()
    except ValueError:
        raise ProviderUnreachable(f"The {what} is not JSON.") from None
    if not isinstance(data, dict):
        raise ProviderUnreachable(f"The {what} is not a JSON object.")
    return data


@dataclass(frozen=True)
class Endpoints:
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


def discover(issuer: str) -> Endpoints:
    """Read and check the issuer's discovery document; InvalidInput naming `issuer` when it is unusable (the
    admin's form and the API show it next to the field)."""
    try:
        check_address(issuer)
        with ProviderSession() as session:
            document = _json(
                session.get(get_well_known_url(issuer, external=True), withhold_token=True),
                "discovery document",
            )
    except AddressRefused as refused:
        raise InvalidInput("issuer", refused.message, code=refused.code) from None
    except ProviderUnreachable as failed:
        raise InvalidInput("issuer", f"Discovery failed: {failed.message}", code="discovery_failed") from None
    if document.get("issuer") != issuer:
        raise InvalidInput(
            "issuer",
            f"The discovery document names the issuer {str(document.get('issuer'))[:200]!r}, not {issuer!r}.",
            code="issuer_mismatch",
        )
    metadata = OpenIDProviderMetadata(document)
    try:
        metadata.validate()
    except (ValueError, TypeError, KeyError) as invalid:
        raise InvalidInput(
            "issuer", f"The discovery document is invalid: {invalid}", code="discovery_invalid"
        ) from None
    if "code" not in (document.get("response_types_supported") or []):
        raise InvalidInput("issuer", "The provider does not support the code flow.", code="discovery_invalid")
    methods = document.get("code_challenge_methods_supported")
    if methods is not None and "S256" not in methods:
        raise InvalidInput(
            "issuer", "The provider does not support PKCE with S256.", code="discovery_invalid"
        )
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(document.get(key), str) or len(document[key]) > 500:
            raise InvalidInput(
                "issuer", f"The discovery document has no usable {key}.", code="discovery_invalid"
            )
    return Endpoints(document["authorization_endpoint"], document["token_endpoint"], document["jwks_uri"])


@dataclass(frozen=True)
class Flow:
    """What the browser's session keeps between the redirect to the provider and the callback."""

    state: str
    nonce: str
    code_verifier: str

    def as_dict(self) -> dict[str, str]:
        return {"state": self.state, "nonce": self.nonce, "code_verifier": self.code_verifier}


def authorization_url(*, config: Any, redirect_uri: str) -> tuple[str, Flow]:
    """The provider's authorization URL for a new sign-in, and the secrets the callback will check."""
    flow = Flow(state=generate_token(32), nonce=generate_token(32), code_verifier=secrets.token_urlsafe(64))
    session = ProviderSession(config.client_id, scope=SCOPE, redirect_uri=redirect_uri)
    url, _ = session.create_authorization_url(
        config.authorization_endpoint,
        state=flow.state,
        nonce=flow.nonce,
        code_challenge=create_s256_code_challenge(flow.code_verifier),
        code_challenge_method="S256",
    )
    return url, flow


def sign_in_claims(*, config: Any, flow: Flow, code: str, redirect_uri: str) -> dict[str, Any]:
    """Exchange the code (with the PKCE verifier) and return the verified ID token's claims: signed by a key
    of the provider's JWKS, issued by the configured issuer to this client, not expired, carrying the nonce
    this browser's session sent. SsoFailed or ProviderUnreachable otherwise."""
    with ProviderSession(
        config.client_id,
        config.client_secret,
        token_endpoint_auth_method="client_secret_basic",  # noqa: S106 (a method's name)
        redirect_uri=redirect_uri,
    ) as session:
        try:
            token = session.fetch_token(
                config.token_endpoint,
                code=code,
                code_verifier=flow.code_verifier,
                grant_type="authorization_code",
            )
        except ProviderUnreachable:
            raise
        except Exception as failed:  # authlib's OAuthError and its parse errors: the provider said no
            raise SsoFailed(
                "The identity provider refused the sign-in code.",
                code="sso_code_refused",
                reason=str(getattr(failed, "error", "") or type(failed).__name__)[:100],
            ) from None
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise SsoFailed("The identity provider sent no ID token.", code="sso_id_token_missing")
        keys = _json(session.get(config.jwks_uri, withhold_token=True), "key set (JWKS)")
    try:
        key_set = KeySet.import_key_set(keys)  # type: ignore[arg-type]
        decoded = jwt.decode(id_token, key_set, registry=JWSRegistry(algorithms=ALGORITHMS))
    except (JoseError, ValueError, TypeError, KeyError):
        raise SsoFailed(
            "The ID token's signature does not verify with the provider's keys.", code="sso_invalid_signature"
        ) from None
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        {
            "iss": {"essential": True, "value": config.issuer},
            "aud": {"essential": True, "value": config.client_id},
            "exp": {"essential": True},
        },
        {"nonce": flow.nonce, "client_id": config.client_id, "access_token": token.get("access_token")},
    )
    try:
        claims.validate(leeway=60)
    except (JoseError, ValueError) as invalid:
        claim = str(getattr(invalid, "claim", "") or "")
        code = "sso_nonce_mismatch" if claim == "nonce" else "sso_invalid_id_token"
        raise SsoFailed(
            f"The ID token is not valid for this sign-in ({claim or invalid}).", code=code
        ) from None
    return dict(claims)
