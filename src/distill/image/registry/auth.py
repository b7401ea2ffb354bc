"""Answering registry challenges: Bearer tokens (realm/service/scope) and Basic."""

from __future__ import annotations

import base64
import re
import threading

import httpx

from distill.errors import RegistryError
from distill.image.registry.credentials import Credentials

_PARAM = re.compile(r'([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="…",service="…",scope="…"` → ("bearer", {...})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3)).replace('\\"', '"')
              for m in _PARAM.finditer(rest)}
    return scheme.lower(), params


class Authenticator:
    """Holds what a registry asked for and the tokens it granted, per scope."""

    def __init__(self, http: httpx.Client, domain: str, credentials: Credentials | None):
        self.http = http
        self.domain = domain
        self.credentials = credentials
        self.scheme: str | None = None
        self.challenge: dict[str, str] = {}
        self.tokens: dict[str, str] = {}
        self._lock = threading.Lock()

    def headers(self, scope: str) -> dict[str, str]:
        if self.scheme == "basic" and self.credentials and self.credentials.username:
            pair = f"{self.credentials.username}:{self.credentials.password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        token = self.tokens.get(scope)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def answer(self, response: httpx.Response, scope: str, sent: str | None) -> bool:
        """After a 401 to a request that carried `sent` (an Authorization value or None):
        True if the request should be retried with new credentials."""
        scheme, params = parse_challenge(response.headers.get("www-authenticate", ""))
        with self._lock:
            current = self.headers(scope).get("Authorization")
            if current and current != sent:
                return True  # another request refreshed the credentials meanwhile
            if scheme == "basic":
                if self.scheme == "basic" or not (self.credentials and self.credentials.username):
                    return False
                self.scheme = "basic"
                return True
            if scheme != "bearer" or "realm" not in params:
                return False
            # no token yet, or ours expired: fetch one (each request answers once, so no loop)
            self.scheme, self.challenge = "bearer", params
            self.tokens[scope] = self._fetch_token(params, scope)
            return True

    def _fetch_token(self, params: dict[str, str], scope: str) -> str:
        realm = params["realm"]
        query = [("service", params["service"])] if params.get("service") else []
        scopes = set(scope.split(" ")) if scope else set()
        if params.get("scope"):
            scopes.update(params["scope"].split(" "))
        query += [("scope", s) for s in sorted(scopes)]
        creds = self.credentials
        try:
            if creds and creds.identity_token:
                r = self.http.post(realm, data={"grant_type": "refresh_token", "refresh_token": creds.identity_token,
                                                "service": params.get("service", ""), "scope": " ".join(sorted(scopes)),
                                                "client_id": "distill"})
            else:
                auth = httpx.BasicAuth(creds.username, creds.password) if creds and creds.username else None
                r = self.http.get(realm, params=query, auth=auth)
        except httpx.HTTPError as e:
            raise RegistryError(f"{self.domain}: token server {realm} unreachable: {e}") from None
        if r.status_code in (401, 403):
            raise RegistryError(f"{self.domain}: authentication failed (token server said {r.status_code})")
        if r.status_code != 200:
            raise RegistryError(f"{self.domain}: token server {realm} answered {r.status_code}")
        try:
            doc = r.json()
            token = doc.get("token") or doc.get("access_token")
        except ValueError:
            token = None
        if not token or not isinstance(token, str):
            raise RegistryError(f"{self.domain}: token server gave no token")
        return token
