"""Seed 001's client, ported to PyJWT 2 (`algorithm` → `algorithms`, `verify=False` →
`options={"verify_signature": False}`). The request token also carries `sub`, `aud`, `exp`
and `jti`, which RFC 7523 requires of a client assertion (the seed's carries only `iss`).

    python3 seed_client.py SERVER_URL AUDIENCE

Run it in the directory where `zen keygen` wrote client.key."""
import sys
import time
import uuid
from time import sleep

import jwt
import requests

server, audience = sys.argv[1], sys.argv[2]

client_private_key = open('client.key').read()
now = int(time.time())
reqtoken = jwt.encode({'iss': "client", 'sub': "client", 'aud': audience,
                       'exp': now + 60, 'jti': str(uuid.uuid4())},
                      client_private_key, algorithm="RS256")
resp = requests.post(f'{server}/login', data=reqtoken)
resptoken = resp.text
print(jwt.decode(resptoken, options={"verify_signature": False}))

for _ in range(8):
    resp = requests.post(server, data=resptoken)
    print(resp.status_code, resp.text)
    sleep(5)
