"""A stage's image as it is being built: config, layers, history, cache key."""

from __future__ import annotations

from distill.config import DEFAULT_PATH, json_copy, with_default_path
from distill.platform import Platform
from distill.record import Record, fresh

DEFAULT_SHELL = ["/bin/sh", "-c"]


class StageState(Record, frozen=False):
    platform: Platform
    key: str
    created: str
    config: dict = fresh(dict)     # the OCI config's "config" section
    layers: list[dict] = fresh(list)
    diff_ids: list[str] = fresh(list)
    history: list[dict] = fresh(list)
    author: str | None = None
    cmd_set_here: bool = False

    def clone(self) -> "StageState":
        return StageState(self.platform, self.key, self.created, json_copy(self.config), list(self.layers),
                          list(self.diff_ids), json_copy(self.history), self.author, False)

    @classmethod
    def scratch(cls, platform: Platform) -> "StageState":
        # as BuildKit writes an empty image's config
        return cls(platform, f"scratch:{platform}", "1970-01-01T00:00:00Z", {"Env": [DEFAULT_PATH], "WorkingDir": "/"})

    @classmethod
    def from_image(cls, image, platform: Platform) -> "StageState":
        doc = image.config
        config = json_copy(doc.get("config") or {})
        config["Env"] = with_default_path(config.get("Env"))
        return cls(platform, f"image:{image.manifest_digest}", doc.get("created") or "1970-01-01T00:00:00Z",
                   config, list(image.layers), list(image.diff_ids), json_copy(doc.get("history") or []),
                   doc.get("author"))

    @property
    def env(self) -> dict[str, str]:
        out = {}
        for item in self.config.get("Env") or []:
            k, _, v = item.partition("=")
            out[k] = v
        return out

    def set_env(self, key: str, value: str) -> None:
        env = [e for e in self.config.get("Env") or [] if e.partition("=")[0] != key]
        env.append(f"{key}={value}")
        self.config["Env"] = env

    @property
    def workdir(self) -> str:
        return self.config.get("WorkingDir") or "/"

    @property
    def user(self) -> str:
        return self.config.get("User") or ""

    @property
    def shell(self) -> list[str]:
        return self.config.get("Shell") or DEFAULT_SHELL

    def add_history(self, created_by: str, comment: str, empty_layer: bool, created: str | None = None) -> None:
        entry = {"created": created or self.created, "created_by": created_by, "comment": comment}
        if empty_layer:
            entry["empty_layer"] = True
        self.history.append(entry)
        if created:
            self.created = created

    def image_config(self, labels: dict | None = None) -> dict:
        config = json_copy(self.config)
        if labels:
            config["Labels"] = {**(config.get("Labels") or {}), **labels}
        doc = {
            "created": self.created,
            "architecture": self.platform.architecture,
            "os": self.platform.os,
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": list(self.diff_ids)},
            "history": self.history,
        }
        if self.platform.variant:
            doc["variant"] = self.platform.variant
        if self.author:
            doc["author"] = self.author
        return doc
