#!/usr/bin/env python3
"""Verify SETs signed by sethub with independent JOSE implementations (PyJWT and jwcrypto).

Usage: verify_with_pyjwt.py DIR
DIR holds jwks.json, one <name>.jwt per valid SET, tampered.jwt (must fail) and
expected.json ({"iss": ..., "aud": ..., "tokens": {"<name>": "<alg>"}}).
Exits non-zero with a message on the first disagreement.
"""
import json
import pathlib
import sys

import jwt  # PyJWT
from jwcrypto import jwk as cjwk
from jwcrypto import jws as cjws


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def main():
    d = pathlib.Path(sys.argv[1])
    jwks = json.loads((d / "jwks.json").read_text())
    expected = json.loads((d / "expected.json").read_text())
    pyjwt_keys = {k["kid"]: jwt.PyJWK(k) for k in jwks["keys"]}
    keyset = cjwk.JWKSet.from_json(json.dumps(jwks))

    def verify_pyjwt(token):
        header = jwt.get_unverified_header(token)
        if header.get("typ") != "secevent+jwt":
            fail(f"typ is {header.get('typ')!r}")
        key = pyjwt_keys[header["kid"]]
        return header, jwt.decode(
            token,
            key=key.key,
            algorithms=[header["alg"]],
            audience=expected["aud"],
            issuer=expected["iss"],
            options={"require": ["iss", "iat", "jti"], "verify_exp": False},
        )

    def verify_jwcrypto(token):
        obj = cjws.JWS()
        obj.deserialize(token)
        kid = obj.jose_header["kid"]
        obj.verify(keyset.get_key(kid), alg=obj.jose_header["alg"])
        return json.loads(obj.payload)

    for name, alg in expected["tokens"].items():
        token = (d / f"{name}.jwt").read_text().strip()
        header, claims = verify_pyjwt(token)
        if header["alg"] != alg:
            fail(f"{name}: alg {header['alg']} != {alg}")
        if "sub" in claims or "exp" in claims:
            fail(f"{name}: sub or exp present")
        if not isinstance(claims.get("sub_id"), dict) or not claims.get("events"):
            fail(f"{name}: sub_id/events missing")
        if verify_jwcrypto(token) != claims:
            fail(f"{name}: jwcrypto and PyJWT disagree on the claims")
        thumb = cjwk.JWK(**next(k for k in jwks["keys"] if k["kid"] == header["kid"])).thumbprint()
        if thumb != header["kid"]:
            fail(f"{name}: kid {header['kid']} is not the RFC 7638 thumbprint {thumb}")
        print(f"ok {name} ({alg}) verified by PyJWT and jwcrypto")

    tampered = (d / "tampered.jwt").read_text().strip()
    for label, check in (("PyJWT", verify_pyjwt), ("jwcrypto", verify_jwcrypto)):
        try:
            check(tampered)
        except Exception as e:  # noqa: BLE001 - any refusal is what we want
            print(f"ok tampered token refused by {label}: {type(e).__name__}")
        else:
            fail(f"{label} accepted a tampered token")


if __name__ == "__main__":
    main()
