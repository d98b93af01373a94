#!/usr/bin/env python3
"""Verify SETs a running hub delivered with PyJWT and jwcrypto, knowing only what a receiver
is handed: the transmitter's metadata URL and its own client id.

Usage: verify_sets.py CASES.json
CASES.json: [{"metadata_url": ..., "client_id": ..., "sets": [{"token": ..., "alg": ...,
"bits": <RSA modulus size or null>}]}]. For each case the script fetches the metadata, takes
`issuer` and `jwks_uri` from it, fetches the JWKS once (after every SET was issued, so a
rotation's old and new keys must both be there) and verifies every SET with both libraries,
checking `iss` against the metadata's issuer and `aud` against the client id. A copy of each
SET with its payload altered must be refused by both. Exits non-zero on the first disagreement.
"""
import base64
import json
import sys
import urllib.request

import jwt  # PyJWT
from jwcrypto import jwk as cjwk
from jwcrypto import jws as cjws


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def get_json(url):
    with urllib.request.urlopen(url, timeout=20) as resp:
        return json.loads(resp.read())


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def check_case(case):
    meta = get_json(case["metadata_url"])
    issuer, aud = meta["issuer"], case["client_id"]
    jwks = get_json(meta["jwks_uri"])
    pyjwt_keys = {k["kid"]: jwt.PyJWK(k) for k in jwks["keys"]}
    keyset = cjwk.JWKSet.from_json(json.dumps(jwks))

    def verify_pyjwt(token):
        header = jwt.get_unverified_header(token)
        if header.get("typ") != "secevent+jwt":
            fail(f"typ is {header.get('typ')!r}")
        return header, jwt.decode(
            token,
            key=pyjwt_keys[header["kid"]].key,
            algorithms=[header["alg"]],
            audience=aud,
            issuer=issuer,
            options={"require": ["iss", "iat", "jti", "aud"], "verify_exp": False},
        )

    def verify_jwcrypto(token):
        obj = cjws.JWS()
        obj.deserialize(token)
        kid = obj.jose_header["kid"]
        obj.verify(keyset.get_key(kid), alg=obj.jose_header["alg"])
        claims = json.loads(obj.payload)
        if claims.get("iss") != issuer:
            fail(f"jwcrypto: iss {claims.get('iss')!r} != {issuer!r}")
        auds = claims["aud"] if isinstance(claims.get("aud"), list) else [claims.get("aud")]
        if aud not in auds:
            fail(f"jwcrypto: aud {claims.get('aud')!r} lacks {aud!r}")
        return claims

    for s in case["sets"]:
        token, alg = s["token"], s["alg"]
        header, claims = verify_pyjwt(token)
        if header["alg"] != alg:
            fail(f"alg {header['alg']} != {alg}")
        key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
        if s.get("bits"):
            n = base64.urlsafe_b64decode(key["n"] + "=" * (-len(key["n"]) % 4))
            if len(n) * 8 != s["bits"]:
                fail(f"{alg}: modulus of {len(n) * 8} bits, not {s['bits']}")
        if "sub" in claims or "exp" in claims:
            fail(f"{alg}: sub or exp present")
        if not isinstance(claims.get("sub_id"), dict) or len(claims.get("events", {})) != 1:
            fail(f"{alg}: sub_id/events missing")
        if not claims.get("txn"):
            fail(f"{alg}: no txn")
        if verify_jwcrypto(token) != claims:
            fail(f"{alg}: jwcrypto and PyJWT disagree on the claims")
        if cjwk.JWK(**key).thumbprint() != header["kid"]:
            fail(f"{alg}: kid is not the RFC 7638 thumbprint")
        print(f"ok {alg} {s.get('bits') or ''} verified by PyJWT and jwcrypto")
        h, _, sig = token.split(".")
        forged = dict(claims, jti="forged")
        tampered = f"{h}.{b64(json.dumps(forged).encode())}.{sig}"
        for label, check in (("PyJWT", verify_pyjwt), ("jwcrypto", verify_jwcrypto)):
            try:
                check(tampered)
            except Exception:  # noqa: BLE001 - any refusal is what we want
                pass
            else:
                fail(f"{label} accepted a tampered {alg} SET")
        print(f"ok tampered {alg} SET refused by both")


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    for case in cases:
        check_case(case)


if __name__ == "__main__":
    main()
