#!/usr/bin/env python3
"""Reproduces the attacks of issue 10 against a running server and prints what happened.

Used to measure the figures in docs/security.md (before and after). The black-box tests in
server/tests/api/{abuse,limits,quotas,closing}.rs are the checks that gate the build; this is
the measuring tape. Needs `websockets` for the socket attacks:
`target/venv/bin/pip install websockets` (the virtualenv scripts/schemathesis.sh makes).

    target/venv/bin/python scripts/attack.py URL rss --pid PID [--logins 200] [--concurrency 16]
    target/venv/bin/python scripts/attack.py URL slowloris [--conns 140] [--seconds 20]
    target/venv/bin/python scripts/attack.py URL lockout
    target/venv/bin/python scripts/attack.py URL quotas
    target/venv/bin/python scripts/attack.py URL bigframe
    target/venv/bin/python scripts/attack.py URL flood-close
    target/venv/bin/python scripts/attack.py URL small
"""

import argparse
import asyncio
import http.client
import json
import os
import random
import socket
import sys
import threading
import time
import urllib.parse

PASSWORD = "correct horse battery"


def conn(url, timeout=10):
    u = urllib.parse.urlparse(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)


def request(url, method, path, body=None, headers=None, timeout=10):
    c = conn(url, timeout)
    h = {"content-type": "application/json"}
    h.update(headers or {})
    c.request(method, path, json.dumps(body) if body is not None else None, h)
    r = c.getresponse()
    data = r.read()
    cookies = r.headers.get_all("set-cookie") or []
    c.close()
    try:
        parsed = json.loads(data) if data else None
    except ValueError:
        parsed = data.decode(errors="replace")
    return r.status, parsed, cookies, r.headers


def register(url, email=None):
    email = email or f"u{random.getrandbits(48):x}@example.com"
    status, body, cookies, _ = request(url, "POST", "/api/auth/register",
                                       {"email": email, "password": PASSWORD})
    assert status == 201, (status, body)
    token = next(c.split(";")[0].split("=", 1)[1] for c in cookies
                 if c.startswith("access_token="))
    return email, token


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cmd_rss(args):
    pid = args.pid
    before = rss_kib(pid)
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(pid))
            time.sleep(0.02)

    t = threading.Thread(target=sample)
    t.start()
    n = args.logins
    counter = iter(range(n))
    lock = threading.Lock()
    statuses = {}

    def worker():
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            s, _, _, _ = request(args.url, "POST", "/api/auth/login",
                                 {"email": f"nobody{i}-{random.getrandbits(32)}@example.com",
                                  "password": "wrong password"}, timeout=120)
            with lock:
                statuses[s] = statuses.get(s, 0) + 1

    started = time.time()
    ws = [threading.Thread(target=worker) for _ in range(args.concurrency)]
    for w in ws:
        w.start()
    for w in ws:
        w.join()
    elapsed = time.time() - started
    after = rss_kib(pid)
    time.sleep(2)
    idle = rss_kib(pid)
    done.set()
    t.join()
    print(json.dumps({"logins": n, "concurrency": args.concurrency, "statuses": statuses,
                      "seconds": round(elapsed, 1), "rss_mib_before": round(before / 1024, 1),
                      "rss_mib_peak": round(peak[0] / 1024, 1),
                      "rss_mib_after": round(after / 1024, 1),
                      "rss_mib_after_2s_idle": round(idle / 1024, 1)}))


def cmd_slowloris(args):
    u = urllib.parse.urlparse(args.url)
    held = []
    opened = 0
    for _ in range(args.conns):
        try:
            s = socket.create_connection((u.hostname, u.port), timeout=2)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            held.append(s)
            opened += 1
        except OSError:
            pass
    closed_at = {}
    started = time.time()

    def watch():
        while time.time() - started < args.seconds and len(closed_at) < len(held):
            for i, s in enumerate(held):
                if i in closed_at:
                    continue
                s.setblocking(False)
                try:
                    data = s.recv(4096)
                    if data == b"" or data.startswith(b"HTTP/1.1 408"):
                        closed_at[i] = time.time() - started
                except BlockingIOError:
                    pass
                except OSError:
                    closed_at[i] = time.time() - started
            # trickle one byte now and then, as slowloris does
            for i, s in enumerate(held):
                if i not in closed_at:
                    try:
                        s.send(b"a")
                    except OSError:
                        closed_at[i] = time.time() - started
            time.sleep(1)

    w = threading.Thread(target=watch)
    w.start()
    probes = []
    while time.time() - started < args.seconds:
        t0 = time.time()
        try:
            s, _, _, _ = request(args.url, "GET", "/healthz", timeout=5)
        except Exception as e:  # noqa: BLE001
            s = f"error: {type(e).__name__}"
        probes.append((round(t0 - started, 1), s, round((time.time() - t0) * 1000)))
        time.sleep(1)
    w.join()
    ok = sum(1 for p in probes if p[1] == 200)
    times = sorted(closed_at.values())
    print(json.dumps({"half_open_opened": opened, "closed_by_server": len(closed_at),
                      "closed_after_s_min_max": [round(times[0], 1), round(times[-1], 1)] if times else None,
                      "healthz_ok": ok, "healthz_total": len(probes),
                      "healthz_probes": probes}))
    for s in held:
        s.close()


def cmd_lockout(args):
    owner, _ = register(args.url)
    results = []
    for i in range(8):
        s, b, _, _ = request(args.url, "POST", "/api/auth/login",
                             {"email": owner, "password": "wrong password!"},
                             headers={"x-forwarded-for": "203.0.113.66"})
        results.append(s)
    s, b, _, _ = request(args.url, "POST", "/api/auth/login",
                         {"email": owner, "password": PASSWORD},
                         headers={"x-forwarded-for": "198.51.100.7"})
    print(json.dumps({"attacker_statuses": results, "owner_status": s,
                      "owner_body": b if s != 200 else "logged in"}))


async def ws_connect(url, token, **kw):
    import websockets
    wsurl = url.replace("http", "ws", 1) + "/ws"
    return await websockets.connect(wsurl, additional_headers={"authorization": f"Bearer {token}"},
                                    max_size=None, **kw)


async def welcomed(url, token):
    """A socket whose `welcome` has been read."""
    ws = await ws_connect(url, token)
    await ws.recv()
    return ws


def cmd_quotas(args):
    _, token = register(args.url)
    h = {"authorization": f"Bearer {token}"}
    t0 = time.time()
    codes = {}
    for i in range(args.todos):
        s, b, _, _ = request(args.url, "POST", "/api/todos", {"title": f"t{i}"}, headers=h)
        codes[s] = codes.get(s, 0) + 1
    todo_secs = time.time() - t0

    async def sockets():
        opened, refused = [], {}
        for _ in range(args.sockets):
            try:
                ws = await ws_connect(args.url, token)
                opened.append(ws)
            except Exception as e:  # noqa: BLE001
                k = getattr(getattr(e, "response", None), "status_code", type(e).__name__)
                refused[str(k)] = refused.get(str(k), 0) + 1
        for ws in opened:
            await ws.close()
        return len(opened), refused

    opened, refused = asyncio.run(sockets())
    print(json.dumps({"todo_posts": args.todos, "todo_statuses": codes,
                      "todo_seconds": round(todo_secs, 1),
                      "sockets_opened": opened, "sockets_refused": refused}))


def cmd_bigframe(args):
    _, token = register(args.url)
    h = {"authorization": f"Bearer {token}"}
    n = 0
    while n * 9_000 < args.mib * (1 << 20):
        s, b, _, _ = request(args.url, "POST", "/api/todos",
                             {"title": f"big {n}", "description": "x" * 9_000}, headers=h)
        if s == 429:
            time.sleep(0.5)
            continue
        assert s == 201, (s, b)
        n += 1

    async def run():
        ws = await welcomed(args.url, token)
        pages, got, after, outcome = 0, 0, None, "ok"
        try:
            while True:
                msg = {"type": "todo.list", "id": f"p{pages}"}
                if after is not None:
                    msg["after"] = after
                await ws.send(json.dumps(msg))
                while True:
                    m = json.loads(await asyncio.wait_for(ws.recv(), 20))
                    if m.get("id") == f"p{pages}":
                        break
                pages += 1
                if m["type"] != "ack":
                    outcome = f"error {m.get('code')}"
                    break
                got += len(m["result"]["todos"])
                after = m["result"].get("next_after")
                if after is None:
                    break
            # A seq the server has not reached: it answers with a snapshot.
            await ws.send(json.dumps({"type": "hello", "last_seq": 10**12, "id": "h"}))
            parts, snap = 0, 0
            while True:
                m = json.loads(await asyncio.wait_for(ws.recv(), 20))
                if m["type"] == "todo.snapshot":
                    parts += 1
                    snap += len(m["todos"])
                if m.get("id") == "h":
                    break
        except Exception as e:  # noqa: BLE001
            outcome = f"socket dropped: {type(e).__name__}: {e}"
            parts = snap = None
        await ws.close()
        return {"todos": n, "list_pages": pages, "listed": got, "outcome": outcome,
                "snapshot_parts": parts, "snapshot_todos": snap}

    print(json.dumps(asyncio.run(run())))


def cmd_flood_close(args):
    _, token = register(args.url)

    async def run():
        import websockets
        ws = await welcomed(args.url, token)
        stop = asyncio.Event()

        async def flood():
            i = 0
            while not stop.is_set():
                try:
                    await ws.send(json.dumps({"type": "ping", "id": f"f{i}"}))
                except Exception:  # noqa: BLE001
                    return
                i += 1
                if i % 100 == 0:
                    await asyncio.sleep(0)

        f = asyncio.create_task(flood())
        code = None
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 20)
        except websockets.ConnectionClosed as e:
            code = e.rcvd.code if e.rcvd else f"none (no close frame: {e})"
        stop.set()
        await f
        return {"close_code_seen_by_client": code}

    print(json.dumps(asyncio.run(run())))


def cmd_small(args):
    _, token = register(args.url)

    async def run():
        ws = await welcomed(args.url, token)
        await ws.send('{"type":"todo.update","id":"big","todo_id":1e400}')
        a = json.loads(await ws.recv())
        await ws.send('{"type":"hello","id":"min","last_seq":-9223372036854775808}')
        b = json.loads(await ws.recv())
        await ws.close()
        return a, b

    a, b = asyncio.run(run())
    nfc = "jos\u00e9@example.com"
    nfd = "jose\u0301@example.com"
    s1, _, _, _ = request(args.url, "POST", "/api/auth/register", {"email": nfc, "password": PASSWORD})
    s2, b2, _, _ = request(args.url, "POST", "/api/auth/register", {"email": nfd, "password": PASSWORD})
    s3, _, _, _ = request(args.url, "GET", "/metrics")
    print(json.dumps({"1e400_reply": a, "hello_min_reply_type": b.get("type"),
                      "register_nfc_then_nfd": [s1, s2], "metrics_without_token": s3}))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("url")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("rss")
    r.add_argument("--pid", type=int, required=True)
    r.add_argument("--logins", type=int, default=200)
    r.add_argument("--concurrency", type=int, default=16)
    s = sub.add_parser("slowloris")
    s.add_argument("--conns", type=int, default=140)
    s.add_argument("--seconds", type=int, default=20)
    sub.add_parser("lockout")
    q = sub.add_parser("quotas")
    q.add_argument("--todos", type=int, default=1000)
    q.add_argument("--sockets", type=int, default=500)
    b = sub.add_parser("bigframe")
    b.add_argument("--mib", type=int, default=5)
    sub.add_parser("flood-close")
    sub.add_parser("small")
    args = p.parse_args()
    globals()["cmd_" + args.cmd.replace("-", "_")](args)


if __name__ == "__main__":
    sys.exit(main())
