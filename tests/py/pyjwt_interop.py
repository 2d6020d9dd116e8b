#!/usr/bin/env python3
"""The PyJWT side of `tests/tests/pyjwt_interop.rs`.

Usage: ``python3 pyjwt_interop.py MODE`` with one JSON object on stdin.

``sign``
    Input: ``{"alg", "key", "claims", "headers", "iat_offset"?, "exp_offset"?}``.
    ``key`` is a PKCS#8 PEM private key, or the hex-encoded secret for HS*. ``iat`` and
    ``exp`` are added unless the claims carry them: ``now + iat_offset`` (default 0) and
    ``now + exp_offset`` (default 300), as integers.
    Output: ``{"token": "..."}``.

``verify``
    Input: ``{"alg", "key", "token", "audience", "issuer"}``. ``key`` is an SPKI PEM public
    key, or the hex-encoded secret for HS*. PyJWT checks the signature, ``exp``, ``iat``,
    ``aud`` and ``iss``, and requires ``exp``, ``iat`` and ``sub``.
    Output: ``{"header": {...}, "claims": {...}}``.

When PyJWT refuses a token the script prints ``{"error": ExceptionClass, "message": str(e)}``
on stdout and exits with status 2. Any other failure (bad input, missing module) is an
uncaught exception: status 1 and a traceback on stderr.
"""

import json
import sys
import time

import jwt

REFUSED = 2


def load_key(alg, key):
    """HMAC secrets arrive hex-encoded; PEM keys are passed to PyJWT as bytes."""
    if alg.startswith("HS"):
        return bytes.fromhex(key)
    return key.encode("ascii")


def sign(req):
    now = int(time.time())
    claims = dict(req["claims"])
    claims.setdefault("iat", now + int(req.get("iat_offset", 0)))
    claims.setdefault("exp", now + int(req.get("exp_offset", 300)))
    token = jwt.encode(
        claims,
        load_key(req["alg"], req["key"]),
        algorithm=req["alg"],
        headers=req.get("headers") or None,
    )
    return {"token": token}


def verify(req):
    decoded = jwt.decode_complete(
        req["token"],
        load_key(req["alg"], req["key"]),
        algorithms=[req["alg"]],
        audience=req["audience"],
        issuer=req["issuer"],
        options={"require": ["exp", "iat", "sub"]},
    )
    return {"header": decoded["header"], "claims": decoded["payload"]}


MODES = {"sign": sign, "verify": verify}


def main(argv):
    if len(argv) != 2 or argv[1] not in MODES:
        sys.exit(f"usage: {argv[0]} {{{'|'.join(MODES)}}} < request.json")
    request = json.load(sys.stdin)
    try:
        result = MODES[argv[1]](request)
    except jwt.PyJWTError as e:
        json.dump({"error": type(e).__name__, "message": str(e)}, sys.stdout)
        sys.exit(REFUSED)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main(sys.argv)
