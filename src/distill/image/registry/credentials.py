"""Registry credentials from ~/.docker/config.json, as docker and podman read them."""

from __future__ import annotations

import base64
import json
import os
import subprocess

from distill.errors import DistillError
from distill.fs.files import read_text
from distill.record import Record

DOCKER_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")


class Credentials(Record):
    username: str = ""
    password: str = ""
    identity_token: str = ""


def config_path() -> str:
    base = os.environ.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker")
    return os.path.join(base, "config.json")


def _keys_for(domain: str) -> tuple[str, ...]:
    if domain == "docker.io":
        return DOCKER_HUB_KEYS
    return (domain, f"https://{domain}", f"http://{domain}", f"https://{domain}/v1/", f"https://{domain}/v2/")


def _from_helper(helper: str, server: str) -> Credentials | None:
    try:
        out = subprocess.run([f"docker-credential-{helper}", "get"], input=server.encode(),
                             capture_output=True, timeout=60)
    except FileNotFoundError:
        raise DistillError(f"credential helper docker-credential-{helper} not found") from None
    except subprocess.TimeoutExpired:
        raise DistillError(f"credential helper docker-credential-{helper} timed out") from None
    if out.returncode != 0:
        return None  # "credentials not found" is a normal answer: go anonymous
    try:
        doc = json.loads(out.stdout)
        user, secret = doc.get("Username", ""), doc.get("Secret", "")
    except (ValueError, AttributeError):
        raise DistillError(f"credential helper docker-credential-{helper} gave malformed output") from None
    if user == "<token>":
        return Credentials(identity_token=secret)
    return Credentials(user, secret)


def lookup(domain: str, path: str | None = None) -> Credentials | None:
    path = path or config_path()
    try:
        config = json.loads(read_text(path))
    except FileNotFoundError:
        return None
    except (ValueError, OSError) as e:
        raise DistillError(f"cannot read {path}: {e}") from None
    keys = _keys_for(domain)
    helpers = config.get("credHelpers") or {}
    for k in keys:
        if k in helpers:
            return _from_helper(helpers[k], k)
    auths = config.get("auths") or {}
    for k in keys:
        entry = auths.get(k)
        if not isinstance(entry, dict):
            continue
        if entry.get("identitytoken"):
            return Credentials(identity_token=entry["identitytoken"])
        if entry.get("auth"):
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise DistillError(f"{path}: malformed auth for {k}") from None
            return Credentials(user, password)
        if entry.get("username"):
            return Credentials(entry["username"], entry.get("password", ""))
    if config.get("credsStore"):
        return _from_helper(config["credsStore"], keys[0])
    return None
