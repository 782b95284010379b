"""Schemathesis hooks for scripts/schemathesis.sh: every test case gets a session of its own.

A fixed bearer token would be revoked by the first generated `POST /api/auth/logout` (or
`logout-all`, or `DELETE /api/auth/sessions/{id}`), and every operation after it would only
see 401s. So the token comes from a fresh login per case (cheap: the script's server hashes
with a tiny Argon2 cost), for the account the script registered (FUZZ_EMAIL / FUZZ_PASSWORD).
"""

import json
import os
import urllib.request

import schemathesis


@schemathesis.auth(refresh_interval=None)
class FreshSession:
    def get(self, case, ctx):
        body = json.dumps({"email": os.environ["FUZZ_EMAIL"],
                           "password": os.environ["FUZZ_PASSWORD"]}).encode()
        req = urllib.request.Request(os.environ["FUZZ_URL"] + "/api/auth/login", data=body,
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            for header in resp.headers.get_all("set-cookie") or []:
                if header.startswith("access_token="):
                    return header.split(";", 1)[0].split("=", 1)[1]
        raise RuntimeError("login gave no access_token cookie")

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
