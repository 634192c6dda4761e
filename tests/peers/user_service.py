#!/usr/bin/env python3
"""A fake User Service on loopback, the peer of Herald's enrich processor in tests.

Python 3 standard library only. HTTP/1.1 with keep-alive (libcurl reuses its connections);
every answer carries Content-Length and a JSON body. The wire format is checked strictly, as
a real service would, and calls are counted so tests can assert on them.

Usage:
    python3 tests/peers/user_service.py --profiles FILE [--port 0] [--port-file PATH]
        [--client-id ID --client-secret SECRET] [--token-ttl-s 3600] [--verbose]

Binds 127.0.0.1 (--port 0 picks a free port). Once listening it writes the port (digits and a
newline) to --port-file (PATH.tmp, then renamed) and prints
"user_service listening on 127.0.0.1:PORT". SIGTERM or ^C stops it (exit 0).

FILE is JSON {"<tenant_id>": {"<user_id>": {profile}, ...}, ...}. Profiles are served as
stored; "id" is set to the user id when missing.

With --client-id, OAuth2 is required: every /users call must carry "Authorization: Bearer T"
with a token issued here and not yet expired, else 401 {"error":"invalid_token"} with
'WWW-Authenticate: Bearer error="invalid_token"'. Without --client-id no auth is checked.

Endpoints (errors are JSON {"error": "...", "field": "..."} naming the field when there is one):
  POST /oauth/token      RFC 6749 client credentials. Body application/x-www-form-urlencoded
                         with grant_type=client_credentials; the client authenticates with
                         HTTP Basic or with client_id/client_secret form fields (not both).
                         400 invalid_request (content type, malformed or repeated parameters,
                         missing grant_type, two auth methods), 400 unsupported_grant_type,
                         401 invalid_client. 200 {"access_token", "token_type": "Bearer",
                         "expires_in": TTL}. Counts token_calls (every request).
  POST /users/search     Content-Type application/json; body {"tenant_id": "<non-empty>",
                         "ids": [1..1000 non-empty strings]}; X-Tenant-Id, when present, must
                         equal tenant_id. 200 {"users": [profiles found, in request order]}:
                         unknown ids are absent, a repeated id is answered once.
                         Counts search_calls; a served search adds len(ids) to ids_requested
                         and its id list to the log (last 1000).
  GET  /users/{id}       {id} percent-decoded; header X-Tenant-Id required.
                         200 profile, 404 {"error":"unknown user"}. Counts get_calls.

Control endpoints (never counted, never authenticated, no Content-Type check):
  GET    /_control/stats          {"search_calls", "get_calls", "token_calls", "ids_requested",
                                  "unauthorized", "errors_served", "searches", "mode"}
  POST   /_control/reset          zeroes the counters and the search log (mode, profiles and
                                  tokens stay)
  POST   /_control/mode           {"mode": "ok"|"error"|"slow"|"down"|"no_search",
                                  "status": 500, "delay_ms": 0, "count": N}; unknown members
                                  are rejected. Replaces the whole mode.
  POST   /_control/expire_tokens  every token issued so far becomes invalid
  PUT    /_control/profiles/{tenant}/{id}   JSON object body: replaces or adds that profile
  DELETE /_control/profiles/{tenant}/{id}   removes it (404 when absent)

Modes, applied to /users calls in this order, before authentication:
  down       read the request, then shut the socket down without answering (empty reply)
  delay_ms   sleep first; any mode may carry it ("slow" alone defaults it to 1000 ms)
  error      answer `status` (400..599, default 500) {"error":"injected"}; counts errors_served
  no_search  POST /users/search answers 404 {"error":"not found"} (GET /users/{id} works)
With "count": N only the next N calls the mode affects get it, then the mode is plain ok.
"unauthorized" counts the 401s of failed bearer checks (not injected ones).

Unknown paths: 404 JSON; known path, wrong method: 405 with Allow. Malformed JSON: 400
{"error":"malformed JSON: ..."}. Broken framing (bad Content-Length, bad chunks): 400 and the
connection is closed.
"""
import argparse
import base64
import binascii
import collections
import json
import os
import re
import secrets
import signal
import socket
import socketserver
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 8 << 20
MAX_IDS = 1000
LOG_CALLS = 1000
SLOW_DEFAULT_MS = 1000
COUNTERS = ("search_calls", "get_calls", "token_calls", "ids_requested", "unauthorized",
            "errors_served")
MODES = ("ok", "error", "slow", "down", "no_search")
MODE_KEYS = ("mode", "status", "delay_ms", "count")
DIGITS = re.compile(r"[0-9]+")
HEXDIGITS = re.compile(rb"[0-9A-Fa-f]+")


class Reject(Exception):
    """Ends a request with `status` and a JSON payload; `close` drops the connection after."""

    def __init__(self, status, payload, headers=(), close=False):
        super().__init__(status, payload)
        self.status, self.payload, self.headers, self.close = status, payload, headers, close


class PeerGone(Exception):
    """The client closed the connection in the middle of a request."""


def bad(error, field=None, status=400):
    payload = {"error": error}
    if field:
        payload["field"] = field
    return Reject(status, payload)


def framing(error):
    return Reject(400, {"error": error}, close=True)


def oauth_error(status, code, description, headers=()):
    return Reject(status, {"error": code, "error_description": description}, headers)


# ---------------------------------------------------------------- request parsing helpers

def _no_constant(name):
    raise ValueError(f"{name} is not JSON")


def _no_duplicates(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate member {key!r}")
        obj[key] = value
    return obj


def load_json(body):
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_no_constant,
                          object_pairs_hook=_no_duplicates)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise bad(f"malformed JSON: {exc}") from None


def load_object(body):
    doc = load_json(body)
    if not isinstance(doc, dict):
        raise bad("body must be a JSON object")
    return doc


def single_header(headers, name):
    """The value of a header that may appear at most once (None when absent)."""
    values = headers.get_all(name) or []
    if len(values) > 1:
        raise bad(f"{name} repeated", name)
    return values[0].strip() if values else None


def media_type(headers):
    """(type, {param: value}) of Content-Type, lower-cased; ("", {}) when absent."""
    value = single_header(headers, "Content-Type") or ""
    main, *params = value.split(";")
    pairs = (p.split("=", 1) for p in params if "=" in p)
    return main.strip().lower(), {k.strip().lower(): v.strip().strip('"') for k, v in pairs}


def require_json(headers):
    mtype, params = media_type(headers)
    charset = params.get("charset", "utf-8").lower()
    if mtype != "application/json" or charset not in ("utf-8", "utf8"):
        raise bad("Content-Type must be application/json", "Content-Type")


def check_ids(ids):
    if not isinstance(ids, list):
        raise bad("ids must be an array of strings", "ids")
    if not ids:
        raise bad("ids must not be empty", "ids")
    if len(ids) > MAX_IDS:
        raise bad(f"ids has {len(ids)} entries, at most {MAX_IDS} allowed", "ids")
    for i, value in enumerate(ids):
        if not isinstance(value, str) or not value:
            raise bad(f"ids[{i}] must be a non-empty string", "ids")


def parse_search(headers, body):
    """(tenant_id, ids) of a POST /users/search request, or Reject."""
    require_json(headers)
    doc = load_object(body)
    tenant = doc.get("tenant_id")
    if not isinstance(tenant, str) or not tenant:
        raise bad("tenant_id must be a non-empty string", "tenant_id")
    ids = doc.get("ids")
    check_ids(ids)
    header = single_header(headers, "X-Tenant-Id")
    if header is not None and header != tenant:
        raise bad("X-Tenant-Id does not match tenant_id", "X-Tenant-Id")
    return tenant, ids


def parse_form(headers, body):
    """The parameters of an application/x-www-form-urlencoded body, or Reject."""
    if media_type(headers)[0] != "application/x-www-form-urlencoded":
        raise oauth_error(400, "invalid_request",
                          "Content-Type must be application/x-www-form-urlencoded")
    try:
        text = body.decode("ascii")
        pairs = urllib.parse.parse_qsl(text, keep_blank_values=True,
                                       strict_parsing=bool(text), errors="strict")
    except ValueError:
        raise oauth_error(400, "invalid_request", "malformed form body") from None
    names = [name for name, _ in pairs]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise oauth_error(400, "invalid_request", f"parameter {repeated[0]} repeated")
    return dict(pairs)


def basic_credentials(headers):
    """Candidate (id, secret) pairs from "Authorization: Basic", None without the header.

    RFC 6749 2.3.1 form-encodes id and secret before base64; libcurl sends them raw. Both
    readings are candidates.
    """
    value = single_header(headers, "Authorization")
    if value is None:
        return None
    scheme, _, b64 = value.partition(" ")
    try:
        if scheme.lower() != "basic":
            raise ValueError("not Basic")
        raw_id, colon, raw_secret = base64.b64decode(b64.strip(), validate=True) \
            .decode("utf-8").partition(":")
        if not colon:
            raise ValueError("no colon")
    except (ValueError, binascii.Error):
        raise oauth_error(401, "invalid_client", "malformed Basic credentials",
                          [("WWW-Authenticate", 'Basic realm="user_service"')]) from None
    decoded = (urllib.parse.unquote_plus(raw_id), urllib.parse.unquote_plus(raw_secret))
    return [(raw_id, raw_secret), decoded]


def bearer_token(headers):
    values = headers.get_all("Authorization") or []
    parts = values[0].split() if len(values) == 1 else []
    if len(parts) == 2 and parts[0].lower() == "bearer":
        return parts[1]
    return None


def parse_mode(doc):
    """The mode object of POST /_control/mode, or Reject."""
    unknown = sorted(set(doc) - set(MODE_KEYS))
    if unknown:
        raise bad(f"unknown member {unknown[0]}", unknown[0])
    name = doc.get("mode")
    if name not in MODES:
        raise bad("mode must be one of " + ", ".join(MODES), "mode")
    status = doc.get("status", 500)
    if not is_int(status) or not 400 <= status <= 599:
        raise bad("status must be an integer in 400..599", "status")
    delay = doc.get("delay_ms", SLOW_DEFAULT_MS if name == "slow" else 0)
    if not is_number(delay) or delay < 0:
        raise bad("delay_ms must be a non-negative number", "delay_ms")
    count = doc.get("count")
    if count is not None and (not is_int(count) or count < 1):
        raise bad("count must be a positive integer", "count")
    return {"mode": name, "status": status, "delay_ms": delay, "count": count}


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def plain_mode():
    return {"mode": "ok", "status": 500, "delay_ms": 0, "count": None}


# ---------------------------------------------------------------- shared state

class State:
    """Profiles, tokens, mode and counters, behind one lock."""

    def __init__(self, profiles, client_id, client_secret, token_ttl_s):
        self.lock = threading.Lock()
        self.profiles = profiles
        self.client_id, self.client_secret = client_id, client_secret
        self.token_ttl_s = token_ttl_s
        self.tokens = {}
        self.mode = plain_mode()
        self.counters, self.searches = {}, None
        self.reset()

    def reset(self):
        with self.lock:
            self.counters = dict.fromkeys(COUNTERS, 0)
            self.searches = collections.deque(maxlen=LOG_CALLS)

    def bump(self, name):
        with self.lock:
            self.counters[name] += 1

    def log_search(self, ids):
        with self.lock:
            self.counters["ids_requested"] += len(ids)
            self.searches.append(list(ids))

    def stats(self):
        with self.lock:
            out = dict(self.counters)
            out["searches"] = [list(ids) for ids in self.searches]
            out["mode"] = dict(self.mode)
            return out

    def lookup(self, tenant, ids):
        """The stored profiles of `ids`, in order, each once."""
        with self.lock:
            users = self.profiles.get(tenant, {})
            return [users[uid] for uid in dict.fromkeys(ids) if uid in users]

    def put_profile(self, tenant, uid, profile):
        with self.lock:
            self.profiles.setdefault(tenant, {})[uid] = profile

    def delete_profile(self, tenant, uid):
        with self.lock:
            return self.profiles.get(tenant, {}).pop(uid, None) is not None

    @property
    def auth_required(self):
        return self.client_id is not None

    def client_ok(self, candidates):
        if not self.auth_required:
            return True
        want = (self.client_id.encode(), self.client_secret.encode())
        return any(secrets.compare_digest(cid.encode(), want[0])
                   & secrets.compare_digest(secret.encode(), want[1])
                   for cid, secret in candidates)

    def issue_token(self):
        token = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self.lock:
            self.tokens = {t: exp for t, exp in self.tokens.items() if exp > now}
            self.tokens[token] = now + self.token_ttl_s
        return token

    def token_valid(self, token):
        with self.lock:
            expiry = self.tokens.get(token)
        return expiry is not None and expiry > time.monotonic()

    def expire_tokens(self):
        with self.lock:
            count, self.tokens = len(self.tokens), {}
        return count

    def set_mode(self, mode):
        with self.lock:
            self.mode = mode

    def take_mode(self, kind):
        """(mode, status, delay_s) for one /users call of `kind`, using up one of `count`."""
        with self.lock:
            mode = self.mode
            name = mode["mode"]
            affected = name in ("error", "slow", "down") or (name, kind) == ("no_search", "search")
            if affected and mode["count"] is not None:
                mode["count"] -= 1
                if mode["count"] == 0:
                    self.mode = plain_mode()
            return (name if affected else "ok"), mode["status"], mode["delay_ms"] / 1000.0


# ---------------------------------------------------------------- HTTP

STATIC_ROUTES = {
    ("oauth", "token"): {"POST": "_token"},
    ("_control", "stats"): {"GET": "_stats"},
    ("_control", "reset"): {"POST": "_reset"},
    ("_control", "mode"): {"POST": "_set_mode"},
    ("_control", "expire_tokens"): {"POST": "_expire_tokens"},
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "user_service/1"

    @property
    def state(self):
        return self.server.state

    def log_message(self, format, *args):  # noqa: A002 (the stdlib's signature)
        if self.server.verbose:
            sys.stderr.write(f"user_service: {self.address_string()} {format % args}\n")

    # -- plumbing

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def _dispatch(self):
        try:
            body = self._read_body()
            table = self._routes(self._segments())
            if self.command not in table:
                if table:
                    raise Reject(405, {"error": "method not allowed"},
                                 [("Allow", ", ".join(sorted(table)))])
                raise Reject(404, {"error": "not found"})
            handler, args = table[self.command]
            handler(body, *args)
        except Reject as rej:
            self.close_connection = self.close_connection or rej.close
            self._send_json(rej.status, rej.payload, rej.headers)
        except PeerGone:
            self.close_connection = True

    def _segments(self):
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        if not path.startswith("/"):
            return []
        try:
            return [urllib.parse.unquote(seg, errors="strict") for seg in path[1:].split("/")]
        except UnicodeDecodeError:
            raise bad("path is not percent-encoded UTF-8", "path") from None

    def _routes(self, segs):
        """{method: (bound handler, extra args)} for a path; {} when the path is unknown."""
        key = tuple(segs)
        if key in STATIC_ROUTES:
            return {m: (getattr(self, n), ()) for m, n in STATIC_ROUTES[key].items()}
        table = {}
        if len(segs) == 2 and segs[0] == "users" and segs[1]:
            table["GET"] = (self._get_user, (segs[1],))
            if segs[1] == "search":
                table["POST"] = (self._search, ())
        if len(segs) == 4 and segs[:2] == ["_control", "profiles"] and segs[2] and segs[3]:
            table["PUT"] = (self._put_profile, (segs[2], segs[3]))
            table["DELETE"] = (self._delete_profile, (segs[2], segs[3]))
        return table

    def _send_json(self, status, obj, headers=()):
        data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_error(self, code, message=None, explain=None):
        """The stdlib's protocol errors (bad request line, huge headers...), as JSON."""
        self.close_connection = True
        self._send_json(code, {"error": message or self.responses.get(code, ("error",))[0]})

    def _drop(self):
        """Hang up without answering, like a dead peer."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- request bodies

    def _read_body(self):
        te = self.headers.get_all("Transfer-Encoding") or []
        cl = self.headers.get_all("Content-Length") or []
        if te and cl:
            raise framing("both Transfer-Encoding and Content-Length")
        if te:
            if ",".join(te).replace(" ", "").lower() != "chunked":
                raise Reject(501, {"error": "unsupported Transfer-Encoding"}, close=True)
            return self._read_chunked()
        if not cl:
            return b""
        values = {v.strip() for v in ",".join(cl).split(",")}
        if len(values) != 1 or not DIGITS.fullmatch(next(iter(values))):
            raise framing("bad Content-Length")
        length = int(values.pop())
        if length > MAX_BODY:
            raise Reject(413, {"error": "body too large"}, close=True)
        return self._read_exact(length)

    def _read_exact(self, length):
        data = self.rfile.read(length)
        if len(data) < length:
            raise PeerGone()
        return data

    def _read_chunked(self):
        parts, total = [], 0
        while True:
            line = self.rfile.readline(1024)
            if not line:
                raise PeerGone()
            size_text = line.split(b";", 1)[0].strip()
            if not HEXDIGITS.fullmatch(size_text):
                raise framing("bad chunk size")
            size = int(size_text, 16)
            total += size
            if total > MAX_BODY:
                raise Reject(413, {"error": "body too large"}, close=True)
            if size == 0:
                break
            parts.append(self._read_exact(size))
            if self._read_exact(2) != b"\r\n":
                raise framing("chunk not followed by CRLF")
        self._skip_trailers()
        return b"".join(parts)

    def _skip_trailers(self):
        while True:
            line = self.rfile.readline(8192)
            if not line:
                raise PeerGone()
            if line in (b"\r\n", b"\n"):
                return

    # -- /users

    def _users_call(self, kind, serve):
        """Counts the call, applies the mode, checks the token, then runs `serve`."""
        self.state.bump(kind + "_calls")
        mode, status, delay_s = self.state.take_mode(kind)
        if mode == "down":
            self._drop()
            return
        if delay_s:
            time.sleep(delay_s)
        if mode == "error":
            self.state.bump("errors_served")
            raise Reject(status, {"error": "injected"})
        if mode == "no_search":
            raise Reject(404, {"error": "not found"})
        self._check_bearer()
        serve()

    def _check_bearer(self):
        if not self.state.auth_required:
            return
        token = bearer_token(self.headers)
        if token is not None and self.state.token_valid(token):
            return
        self.state.bump("unauthorized")
        raise Reject(401, {"error": "invalid_token"},
                     [("WWW-Authenticate", 'Bearer error="invalid_token"')])

    def _search(self, body):
        self._users_call("search", lambda: self._serve_search(body))

    def _serve_search(self, body):
        tenant, ids = parse_search(self.headers, body)
        users = self.state.lookup(tenant, ids)
        self.state.log_search(ids)
        self._send_json(200, {"users": users})

    def _get_user(self, body, uid):
        self._users_call("get", lambda: self._serve_get(uid))

    def _serve_get(self, uid):
        tenant = single_header(self.headers, "X-Tenant-Id")
        if not tenant:
            raise bad("missing X-Tenant-Id", "X-Tenant-Id")
        found = self.state.lookup(tenant, [uid])
        if not found:
            raise Reject(404, {"error": "unknown user"})
        self._send_json(200, found[0])

    # -- /oauth/token

    def _token(self, body):
        self.state.bump("token_calls")
        form = parse_form(self.headers, body)
        grant = form.get("grant_type")
        if grant is None:
            raise oauth_error(400, "invalid_request", "missing grant_type")
        if grant != "client_credentials":
            raise oauth_error(400, "unsupported_grant_type", f"grant_type {grant!r}")
        self._authenticate_client(form)
        self._send_json(200, {"access_token": self.state.issue_token(), "token_type": "Bearer",
                              "expires_in": self.state.token_ttl_s},
                        [("Cache-Control", "no-store"), ("Pragma", "no-cache")])

    def _authenticate_client(self, form):
        basic = basic_credentials(self.headers)
        in_form = "client_id" in form or "client_secret" in form
        if basic and in_form:
            raise oauth_error(400, "invalid_request", "more than one client authentication")
        if basic:
            candidates, challenge = basic, [("WWW-Authenticate", 'Basic realm="user_service"')]
        else:
            candidates, challenge = [(form.get("client_id"), form.get("client_secret"))], []
        if None in candidates[0]:
            raise oauth_error(401, "invalid_client", "no client credentials",
                              [("WWW-Authenticate", 'Basic realm="user_service"')])
        if not self.state.client_ok(candidates):
            raise oauth_error(401, "invalid_client", "bad client credentials", challenge)

    # -- /_control

    def _stats(self, body):
        self._send_json(200, self.state.stats())

    def _reset(self, body):
        self.state.reset()
        self._send_json(200, {"reset": True})

    def _set_mode(self, body):
        mode = parse_mode(load_object(body))
        self.state.set_mode(mode)
        self._send_json(200, {"mode": dict(mode)})

    def _expire_tokens(self, body):
        self._send_json(200, {"expired": self.state.expire_tokens()})

    def _put_profile(self, body, tenant, uid):
        profile = load_object(body)
        profile.setdefault("id", uid)
        self.state.put_profile(tenant, uid, profile)
        self._send_json(200, profile)

    def _delete_profile(self, body, tenant, uid):
        if not self.state.delete_profile(tenant, uid):
            raise Reject(404, {"error": "unknown user"})
        self._send_json(200, {"deleted": True})


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, state, verbose):
        self.state, self.verbose = state, verbose
        super().__init__(address, Handler)

    def server_bind(self):
        # HTTPServer.server_bind resolves the host name (getfqdn), which can stall on a box
        # with a broken resolver; loopback needs none of it.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


# ---------------------------------------------------------------- startup

def parse_args(argv):
    parser = argparse.ArgumentParser(description="Fake User Service for Herald's tests.")
    parser.add_argument("--profiles", required=True, help="JSON {tenant: {user_id: profile}}")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--port-file", help="where to write the port once listening")
    parser.add_argument("--client-id", help="require OAuth2 client credentials")
    parser.add_argument("--client-secret")
    parser.add_argument("--token-ttl-s", type=int, default=3600)
    parser.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = parser.parse_args(argv)
    if (args.client_id is None) != (args.client_secret is None):
        parser.error("--client-id and --client-secret go together")
    if args.token_ttl_s < 0:
        parser.error("--token-ttl-s must not be negative")
    return args


def load_profiles(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if not isinstance(doc, dict) or not all(isinstance(u, dict) for u in doc.values()):
        sys.exit(f"{path}: expected {{tenant: {{user_id: profile}}}}")
    out = {}
    for tenant, users in doc.items():
        for uid, profile in users.items():
            if not isinstance(profile, dict):
                sys.exit(f"{path}: profile {tenant}/{uid} is not an object")
            out.setdefault(tenant, {})[uid] = dict(profile, id=profile.get("id", uid))
    return out


def write_port_file(path, port):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"{port}\n")
    os.replace(tmp, path)


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    args = parse_args(argv)
    state = State(load_profiles(args.profiles), args.client_id, args.client_secret,
                  args.token_ttl_s)
    server = Server(("127.0.0.1", args.port), state, args.verbose)
    port = server.server_address[1]
    if args.port_file:
        write_port_file(args.port_file, port)
    print(f"user_service listening on 127.0.0.1:{port}", flush=True)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
