"""The local vulnerability database: OSV records as OSV publishes them (an ecosystem's
all.zip, or a directory of OSV JSON files) in one SQLite file in the store
(ROOT/vulndb/osv.sqlite), indexed by ecosystem and package. An import writes a new file
beside and renames it over, so a reader never sees half of one. The files come from
strangers: each record is bounded in size, a zip in members and in what it unpacks to."""

from __future__ import annotations

import json
import os
import sqlite3
import time

from distill.errors import DistillError

RECORD_MAX = 4 << 20        # one OSV record's JSON
ZIP_MEMBERS_MAX = 2_000_000
ZIP_TOTAL_MAX = 16 << 30    # what a zip may unpack to in all

SCHEMA = """
CREATE TABLE vulns (id TEXT PRIMARY KEY, modified TEXT, record TEXT NOT NULL);
CREATE TABLE affected (ecosystem TEXT NOT NULL, package TEXT NOT NULL, vuln TEXT NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
"""
INDEX = "CREATE INDEX affected_by_package ON affected (ecosystem, package);"


def db_path(store) -> str:
    return store.path("vulndb", "osv.sqlite")


def _records(path: str):
    """(name, JSON bytes) of each OSV record in a zip or a directory (recursively)."""
    if os.path.isdir(path):
        for root, _, names in os.walk(path):
            for name in sorted(names):
                if name.endswith(".json"):
                    full = os.path.join(root, name)
                    if os.path.getsize(full) > RECORD_MAX:
                        raise DistillError(f"{full}: larger than {RECORD_MAX} bytes: not an OSV record")
                    with open(full, "rb") as f:
                        yield full, f.read()
        return
    import zipfile

    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise DistillError(f"{path}: not a zip of OSV records nor a directory ({e})") from None
    with z:
        infos = [i for i in z.infolist() if i.filename.endswith(".json")]
        if len(infos) > ZIP_MEMBERS_MAX or sum(i.file_size for i in infos) > ZIP_TOTAL_MAX:
            raise DistillError(f"{path}: more records or bytes than an OSV export holds")
        for info in infos:
            if info.file_size > RECORD_MAX:
                raise DistillError(f"{path}: {info.filename} is larger than {RECORD_MAX} bytes")
            with z.open(info) as f:
                data = f.read(RECORD_MAX + 1)
            if len(data) > RECORD_MAX:  # the header lied about the size
                raise DistillError(f"{path}: {info.filename} is larger than {RECORD_MAX} bytes")
            yield f"{path}:{info.filename}", data


def import_osv(store, sources: list[str]) -> dict:
    """Loads OSV records from each source (zip or directory) into a new database that
    replaces the old one whole. Returns {"records", "affected", "ecosystems"}."""
    from distill.fs.atomic import fsync_dir

    final = db_path(store)
    os.makedirs(os.path.dirname(final), exist_ok=True)
    tmp = f"{final}.{os.getpid()}.partial"
    if os.path.exists(tmp):
        os.unlink(tmp)
    con = sqlite3.connect(tmp)
    try:
        con.executescript(SCHEMA)
        records = affected = 0
        ecosystems: dict[str, int] = {}
        for source in sources:
            for name, data in _records(source):
                try:
                    doc = json.loads(data)
                except ValueError:
                    raise DistillError(f"{name}: not valid JSON") from None
                if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
                    raise DistillError(f"{name}: not an OSV record (no id)")
                rows = set()
                for a in doc.get("affected") or []:
                    pkg = a.get("package") if isinstance(a, dict) else None
                    if isinstance(pkg, dict) and isinstance(pkg.get("ecosystem"), str) and isinstance(pkg.get("name"), str):
                        rows.add((pkg["ecosystem"], _key(pkg["ecosystem"], pkg["name"]), doc["id"]))
                con.execute("INSERT OR REPLACE INTO vulns VALUES (?, ?, ?)",
                            (doc["id"], str(doc.get("modified", "")), json.dumps(doc, separators=(",", ":"))))
                con.executemany("INSERT INTO affected VALUES (?, ?, ?)", sorted(rows))
                records += 1
                affected += len(rows)
                for eco, _, _ in rows:
                    ecosystems[eco] = ecosystems.get(eco, 0) + 1
        con.execute(INDEX)
        con.executemany("INSERT INTO meta VALUES (?, ?)", [("imported", str(int(time.time()))),
                                                             ("sources", json.dumps(sources))])
        con.commit()
    except BaseException:
        con.close()
        os.unlink(tmp)
        raise
    con.close()
    os.replace(tmp, final)
    fsync_dir(os.path.dirname(final))
    return {"records": records, "affected": affected, "ecosystems": dict(sorted(ecosystems.items()))}


OSV_EXPORT = "https://osv-vulnerabilities.storage.googleapis.com"
DOWNLOAD_MAX = 8 << 30


def download(store, ecosystems: list[str], source: str = OSV_EXPORT, progress=None) -> list[str]:
    """Each ecosystem's all.zip from `source` (OSV's public export by default: one
    directory an ecosystem, `Debian:12` within `Debian`), into the store's vulndb/ (a
    file appears whole or not at all). Returns their paths, for import_osv."""
    import httpx

    folder = os.path.dirname(db_path(store))
    os.makedirs(folder, exist_ok=True)
    out = []
    with httpx.Client(follow_redirects=True, timeout=httpx.Timeout(60, read=300)) as client:
        for eco in dict.fromkeys(e.split(":", 1)[0] for e in ecosystems):
            url = f"{source.rstrip('/')}/{eco}/all.zip"
            target = os.path.join(folder, f"{eco}.zip")
            tmp = f"{target}.{os.getpid()}.partial"
            try:
                with client.stream("GET", url) as r:
                    if r.status_code != 200:
                        raise DistillError(f"{url}: HTTP {r.status_code}")
                    size = 0
                    with open(tmp, "wb") as f:
                        for chunk in r.iter_bytes():
                            size += len(chunk)
                            if size > DOWNLOAD_MAX:
                                raise DistillError(f"{url}: larger than {DOWNLOAD_MAX} bytes")
                            f.write(chunk)
                os.replace(tmp, target)
            except httpx.HTTPError as e:
                raise DistillError(f"{url}: {e}") from None
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            out.append(target)
    return out


def _key(ecosystem: str, name: str) -> str:
    """How a package is looked up: PyPI by its PEP 503 name, the rest as written."""
    if ecosystem == "PyPI":
        from distill.analyze.packages.python import canonical_name

        return canonical_name(name)
    return name


class Database:
    def __init__(self, store):
        path = db_path(store)
        if not os.path.exists(path):
            raise DistillError("no vulnerability database: `distill db import PATH` loads OSV records "
                               "(an ecosystem's all.zip or a directory of OSV JSON)")
        self.con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)

    def records(self, ecosystem: str, name: str) -> list[dict]:
        rows = self.con.execute("SELECT v.record FROM affected a JOIN vulns v ON v.id = a.vuln "
                                "WHERE a.ecosystem = ? AND a.package = ? ORDER BY v.id",
                                (ecosystem, _key(ecosystem, name))).fetchall()
        return [json.loads(r[0]) for r in rows]

    def status(self) -> dict:
        meta = dict(self.con.execute("SELECT key, value FROM meta").fetchall())
        ecosystems = dict(self.con.execute("SELECT ecosystem, COUNT(DISTINCT vuln) FROM affected GROUP BY ecosystem"))
        return {"records": self.con.execute("SELECT COUNT(*) FROM vulns").fetchone()[0],
                "ecosystems": ecosystems, "imported": int(meta.get("imported", 0)),
                "sources": json.loads(meta.get("sources", "[]"))}

    def close(self) -> None:
        self.con.close()


def status_of(store) -> dict | None:
    """`db status`: the database's records and sources; None when there is none yet."""
    if not os.path.exists(db_path(store)):
        return None
    db = Database(store)
    try:
        return db.status()
    finally:
        db.close()
