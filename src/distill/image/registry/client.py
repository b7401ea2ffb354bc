"""One registry, spoken to per the OCI distribution spec over httpx.

Retries with backoff on 5xx and dropped connections; redirects are followed by hand so
credentials go only to the registry's own host; every reply is bounded and checked.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from urllib.parse import urlencode, urljoin, urlsplit

import httpx

from distill import digest as digests
from distill.image.oci import mediatypes
from distill.errors import NotFound, RegistryError, TransferError, VerificationError
from distill.image.registry.auth import Authenticator
from distill.image.registry.credentials import Credentials, lookup

DOCKER_HUB_ENDPOINT = "registry-1.docker.io"
MANIFEST_MAX = 4 << 20
RETRIES = 4
BACKOFF = 0.5
MAX_REDIRECTS = 5
_RETRY_STATUS = {500, 502, 503, 504, 429}
_SEND_CHUNK = 64 << 10


def is_local(domain: str) -> bool:
    host = urlsplit(f"//{domain}").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _error_text(r: httpx.Response) -> str:
    try:
        errors = r.json().get("errors") or []
        parts = [f"{e.get('code', '').lower().replace('_', ' ')}: {e.get('message', '')}".strip(": ") for e in errors]
        if parts:
            return "; ".join(parts)
    except (ValueError, AttributeError, httpx.ResponseNotRead):
        pass
    return f"HTTP {r.status_code}"


class Registry:
    def __init__(self, domain: str, insecure: bool = False, credentials: Credentials | None = None,
                 retries: int = RETRIES, backoff: float = BACKOFF):
        self.domain = domain
        endpoint = DOCKER_HUB_ENDPOINT if domain == "docker.io" else domain
        scheme = "http" if insecure or is_local(domain) else "https"
        self.base = f"{scheme}://{endpoint}"
        self.host = urlsplit(self.base).netloc
        self.http = httpx.Client(timeout=httpx.Timeout(60.0, read=300.0), follow_redirects=False,
                                 headers={"User-Agent": "distill"})
        self.auth = Authenticator(self.http, domain, credentials if credentials is not None else lookup(domain))
        self.retries, self.backoff = retries, backoff

    def close(self) -> None:
        self.http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- transport --------------------------------------------------------
    @contextmanager
    def request(self, method: str, path_or_url: str, scope: str, *, headers: dict | None = None,
                content=None, ok: Iterable[int] = (200,), stream: bool = False, retry: bool = True,
                params: dict | None = None) -> Iterator[httpx.Response]:
        """A response with a status in `ok`, after auth, redirects and retries; else RegistryError."""
        url = path_or_url if "://" in path_or_url else f"{self.base}{path_or_url}"
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params)
        attempt, answered = 0, False
        while True:
            try:
                r, sent = self._send(method, url, scope, headers or {}, content)
            except httpx.TransportError as e:
                # a refused connection is retried once (a restarting registry), not backed off
                limit = 1 if isinstance(e, httpx.ConnectError) else self.retries
                if retry and attempt < limit:
                    attempt += 1
                    time.sleep(self.backoff * 2 ** (attempt - 1))
                    continue
                raise RegistryError(f"{self.domain}: {method} failed: {e.__class__.__name__}: {e}") from None
            if r.status_code == 401 and not answered:
                r.read()
                r.close()
                answered = True
                if self.auth.answer(r, scope, sent):
                    continue
            if r.status_code in _RETRY_STATUS and retry and attempt < self.retries:
                r.close()
                attempt += 1
                time.sleep(self.backoff * 2 ** (attempt - 1))
                continue
            break
        try:
            if r.status_code not in ok:
                r.read()
                if r.status_code == 404:
                    raise NotFound(f"{self.domain}: {_error_text(r)}")
                if r.status_code in (401, 403):
                    raise RegistryError(f"{self.domain}: access denied ({_error_text(r)})")
                raise RegistryError(f"{self.domain}: {method} {urlsplit(url).path} answered {_error_text(r)}")
            if not stream:
                r.read()
            yield r
        finally:
            r.close()

    def _send(self, method, url, scope, headers, content) -> tuple[httpx.Response, str | None]:
        body = content() if callable(content) else content
        sent = None
        for _ in range(MAX_REDIRECTS + 1):
            h = dict(headers)
            if urlsplit(url).netloc == self.host:
                h.update(self.auth.headers(scope))  # never to another host
                sent = h.get("Authorization")
            req = self.http.build_request(method, url, headers=h, content=body)
            r = self.http.send(req, stream=True)
            if r.status_code in (301, 302, 303, 307, 308) and "location" in r.headers:
                r.close()
                url = urljoin(url, r.headers["location"])
                if r.status_code == 303:
                    method, body = "GET", None
                continue
            return r, sent
        raise RegistryError(f"{self.domain}: too many redirects")

    @staticmethod
    def scope(repo: str, *actions: str) -> str:
        return f"repository:{repo}:{','.join(actions or ('pull',))}"

    # ---- manifests ----------------------------------------------------------
    def get_manifest(self, repo: str, ref: str) -> tuple[bytes, str, str]:
        """(bytes, media type, digest) of a manifest or index, verified when `ref` is a digest."""
        with self.request("GET", f"/v2/{repo}/manifests/{ref}", self.scope(repo),
                          headers={"Accept": mediatypes.ACCEPT}, stream=True) as r:
            declared = r.headers.get("content-length")
            if declared and int(declared) > MANIFEST_MAX:
                raise RegistryError(f"{self.domain}: manifest of {declared} bytes is larger than {MANIFEST_MAX}")
            data = b""
            for chunk in r.iter_bytes():
                data += chunk
                if len(data) > MANIFEST_MAX:
                    raise RegistryError(f"{self.domain}: manifest larger than {MANIFEST_MAX} bytes")
            media = r.headers.get("content-type", "").split(";")[0].strip()
        actual = digests.of_bytes(data)
        if ref.startswith("sha"):
            expected = digests.validate(ref)
            if digests.of_bytes(data, digests.split(expected)[0]) != expected:
                raise VerificationError(f"{self.domain}: manifest for {ref} does not match its digest")
            actual = expected
        return data, media, actual

    def put_manifest(self, repo: str, ref: str, data: bytes, media_type: str) -> str:
        with self.request("PUT", f"/v2/{repo}/manifests/{ref}", self.scope(repo, "pull", "push"),
                          headers={"Content-Type": media_type}, content=data, ok=(200, 201, 202)) as r:
            return r.headers.get("docker-content-digest") or digests.of_bytes(data)

    # ---- blobs ----------------------------------------------------------------
    def has_blob(self, repo: str, digest: str) -> bool:
        try:
            with self.request("HEAD", f"/v2/{repo}/blobs/{digest}", self.scope(repo, "pull", "push")):
                return True
        except NotFound:
            return False

    def fetch_blob(self, repo: str, digest: str, size: int | None, writer) -> None:
        """Stream a blob into a store BlobWriter (which verifies size and digest); a
        connection lost part way is a TransferError (registry/pull.py fetches again)."""
        got = 0
        with self.request("GET", f"/v2/{repo}/blobs/{digests.validate(digest)}", self.scope(repo), stream=True) as r:
            try:
                for chunk in r.iter_raw():  # as stored (no transfer decoding), as received (no re-chunking)
                    got += len(chunk)
                    writer.write(chunk)
            except httpx.TransportError as e:
                raise TransferError(f"{self.domain}: blob {digest}: connection lost after {got} of {size} bytes "
                                    f"({e.__class__.__name__})") from None

    def mount_blob(self, repo: str, digest: str, source_repo: str) -> bool:
        scope = f"{self.scope(repo, 'pull', 'push')} {self.scope(source_repo)}"
        with self.request("POST", f"/v2/{repo}/blobs/uploads/", scope, ok=(201, 202),
                          params={"mount": digest, "from": source_repo}) as r:
            if r.status_code == 201:
                return True
            self._cancel(r, scope)
            return False

    def _cancel(self, r: httpx.Response, scope: str) -> None:
        location = r.headers.get("location")
        if location:
            try:
                with self.request("DELETE", urljoin(r.url.__str__(), location), scope, ok=(200, 202, 204, 404, 405)):
                    pass
            except RegistryError:
                pass

    def upload_blob(self, repo: str, digest: str, size: int, opener, chunk_size: int | None = None) -> None:
        """Upload a blob: monolithic PUT, or PATCH chunks of `chunk_size` then PUT."""
        scope = self.scope(repo, "pull", "push")
        with self.request("POST", f"/v2/{repo}/blobs/uploads/", scope, ok=(202,)) as r:
            location = urljoin(str(r.url), r.headers["location"])
        if chunk_size is None or size <= chunk_size:
            def body():
                return _file_chunks(opener)
            with self.request("PUT", location, scope, params={"digest": digest}, content=body, ok=(201,),
                              headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)}):
                return
        offset = 0
        with opener() as f:
            while offset < size:
                data = f.read(chunk_size)
                if not data:
                    raise VerificationError(f"blob {digest} shrank while being uploaded")
                with self.request("PATCH", location, scope, content=data, ok=(202,), headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{offset + len(data) - 1}",
                }) as r:
                    location = urljoin(str(r.url), r.headers["location"])
                offset += len(data)
        with self.request("PUT", location, scope, params={"digest": digest}, content=b"", ok=(201,)):
            return


def _file_chunks(opener):
    # Pieces the socket takes whole: httpcore re-slices a buffer after each partial send,
    # which copied a 1 MB piece many times over.
    with opener() as f:
        while chunk := f.read(_SEND_CHUNK):
            yield chunk


def connect(domain: str, insecure_registries: tuple[str, ...] = ()) -> "Registry":
    """A client of the registry at `domain`: plain HTTP when it is one of
    `insecure_registries` (loopback hosts always are)."""
    return Registry(domain, insecure=domain in insecure_registries)
