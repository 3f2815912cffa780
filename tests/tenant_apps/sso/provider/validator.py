"""The provider's claims: email (verified unless the account's username starts with "unverified") and name.
An account whose username starts with "rogue" gets ID tokens signed by a key the provider does not publish
(with the published key's id in the header), as a forged token would be."""

import json

from jwcrypto import jwk, jws, jwt
from oauth2_provider.oauth2_validators import OAuth2Validator

ROGUE_KEY = jwk.JWK.generate(kty="RSA", size=2048)


class Validator(OAuth2Validator):
    def get_additional_claims(self, request):  # type: ignore[no-untyped-def]
        user = request.user
        return {
            "email": user.email,
            "email_verified": not user.username.startswith("unverified"),
            "name": user.first_name,
        }

    def finalize_id_token(self, id_token, token, token_handler, request):  # type: ignore[no-untyped-def]
        signed = super().finalize_id_token(id_token, token, token_handler, request)
        if not request.user.username.startswith("rogue"):
            return signed
        genuine = jws.JWS()
        genuine.deserialize(signed)
        header = {"typ": "JWT", "alg": "RS256", "kid": request.client.jwk_key.thumbprint()}
        forged = jwt.JWT(header=json.dumps(header), claims=genuine.objects["payload"].decode())
        forged.make_signed_token(ROGUE_KEY)
        return forged.serialize()
