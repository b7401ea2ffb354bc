"""`distill sbom`: the packages an image holds (packages.py), each with its package URL,
declared licence, the layer that brought it and, for a build, the stage and Dockerfile
line; as JSON, a table, CycloneDX 1.6 (through cyclonedx-python-lib) or SPDX 2.3
(through spdx-tools, which validates what it writes)."""

from __future__ import annotations

PURL_TYPES = {"dpkg": "deb", "apk": "apk", "rpm": "rpm", "python": "pypi", "npm": "npm", "go": "golang",
              "java": "maven"}


def os_release(fs) -> dict[str, str]:
    """/etc/os-release (or /usr/lib/os-release) as a dict."""
    text = fs.read_text("/etc/os-release") or fs.read_text("/usr/lib/os-release") or ""
    out = {}
    for line in text.splitlines():
        key, eq, value = line.partition("=")
        if eq and key.strip().isidentifier():
            out[key.strip()] = value.strip().strip('"').strip("'")
    return out


def purl(c: dict, distro: dict[str, str]) -> str:
    from packageurl import PackageURL

    kind = PURL_TYPES[c["type"]]
    namespace, name, qualifiers = None, c["name"], {}
    if kind in ("deb", "apk", "rpm"):
        namespace = distro.get("ID") or {"deb": "debian", "apk": "alpine", "rpm": "redhat"}[kind]
        if c.get("arch"):
            qualifiers["arch"] = c["arch"]
        if distro.get("VERSION_ID"):
            qualifiers["distro"] = f"{namespace}-{distro['VERSION_ID']}"
        if c.get("source") and c["source"] != c["name"]:
            qualifiers["upstream"] = c["source"]
    elif kind == "npm" and name.startswith("@") and "/" in name:
        namespace, name = name.split("/", 1)
    elif kind == "golang" and "/" in name:
        namespace, name = name.rsplit("/", 1)
    elif kind == "maven" and ":" in name:
        namespace, name = name.split(":", 1)
    elif kind == "pypi":
        from distill.analyze.packages.python import canonical_name

        name = canonical_name(name)
    version = c["version"]
    if kind == "rpm" and ":" in version:  # purl-spec: an rpm's epoch is a qualifier
        qualifiers["epoch"], version = version.split(":", 1)
    return PackageURL(type=kind, namespace=namespace, name=name, version=version,
                      qualifiers=qualifiers or None).to_string()


def catalog(fs, attribution, files: bool = False) -> dict:
    """{"image", "distro", "components": [...]} with each component attributed."""
    from distill.analyze.packages import find

    distro = os_release(fs)
    components = []
    for c in sorted(find(fs, files), key=lambda c: (c["type"], c["name"].lower(), c["version"], c.get("arch", ""))):
        who = attribution.of(c["layer"]) if c.get("layer") is not None else {}
        components.append({**c, "purl": purl(c, distro), "stage": who.get("stage"), "line": who.get("line"),
                           "layer_digest": who.get("digest")})
    return {"distro": {k: distro[k] for k in ("ID", "VERSION_ID", "PRETTY_NAME") if k in distro},
            "components": components}


def table(doc: dict) -> str:
    """The catalog as `distill sbom --format table` prints it: a package a row, with the
    layer and the stage and Dockerfile line that installed it."""
    from distill.errors import printable

    rows = [f"{'NAME':<40}{'VERSION':<32}{'TYPE':<8}{'LAYER':>6}  STAGE:LINE"]
    for c in doc["components"]:
        where = f"{c['stage']}:{c['line']}" if c.get("stage") else ("base" if c.get("layer") is not None else "")
        layer = c["layer"] if c["layer"] is not None else "-"
        rows.append(f"{printable(c['name']):<40}{printable(c['version']):<32}{c['type']:<8}{layer:>6}  {where}")
    return "\n".join(rows) + "\n"


def cyclonedx(image: str, config_digest: str, doc: dict, findings: list[dict] | None = None) -> str:
    """CycloneDX 1.6 JSON: the image as the BOM's subject, each package a component with
    its purl, licence and where it came from (as distill: properties); with `findings`
    (a scan's), each vulnerability affecting the components it was found in."""
    from cyclonedx.model import Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.dependency import Dependency
    from cyclonedx.model.license import LicenseExpression, DisjunctiveLicense
    from cyclonedx.output.json import JsonV1Dot6
    from packageurl import PackageURL

    bom = Bom()
    root = Component(name=image, version=config_digest, type=ComponentType.CONTAINER, bom_ref=config_digest)
    bom.metadata.component = root
    for i, c in enumerate(doc["components"]):
        props = [Property(name=f"distill:{k}", value=str(c[k])) for k in ("type", "path", "layer", "layer_digest",
                                                                          "stage", "line") if c.get(k) is not None]
        if c.get("source") and c["source"] != c["name"]:
            props.append(Property(name="distill:source", value=f"{c['source']} {c.get('source_version', '')}".strip()))
        component = Component(name=c["name"], version=c["version"], type=ComponentType.LIBRARY,
                              purl=PackageURL.from_string(c["purl"]), bom_ref=f"{c['purl']}#{i}", properties=props)
        if c.get("license"):
            component.licenses.add(_licence(c["license"], LicenseExpression, DisjunctiveLicense))
        bom.components.add(component)
    # the image holds every package, each of which depends on nothing listed: made here in
    # one pass. Bom.register_dependency looks each target up in a list, and the writer's
    # validation asks it once per component (100,000 packages took 20 minutes): this Bom's
    # answers from a set, for the targets already there with nothing to add.
    refs = [c.bom_ref for c in bom.components]
    bom.dependencies.update([Dependency(ref=root.bom_ref, dependencies=[Dependency(ref=r) for r in refs]),
                             *(Dependency(ref=r) for r in refs)])
    known = {root.bom_ref, *refs}

    def register(target, depends_on=None):
        if depends_on or target.bom_ref not in known:
            Bom.register_dependency(bom, target, depends_on)

    bom.register_dependency = register
    if findings:
        _vulnerabilities(bom, doc, findings)
    return JsonV1Dot6(bom).output_as_string(indent=2)


def _vulnerabilities(bom, doc: dict, findings: list[dict]) -> None:
    from cyclonedx.model.vulnerability import (BomTarget, Vulnerability, VulnerabilityRating,
                                               VulnerabilitySeverity, VulnerabilitySource)

    refs = {(c["type"], c["name"], c["version"]): f"{c['purl']}#{i}" for i, c in enumerate(doc["components"])}
    by_id: dict[str, list[dict]] = {}
    for f in findings:
        by_id.setdefault(f["id"], []).append(f)
    for vid, found in sorted(by_id.items()):
        first = found[0]
        targets = sorted({refs[key] for f in found if (key := (f["type"], f["package"], f["installed"])) in refs})
        fixed = sorted({v for f in found for v in f["fixed"]})
        bom.vulnerabilities.add(Vulnerability(
            id=vid, source=VulnerabilitySource(name="OSV", url=f"https://osv.dev/vulnerability/{vid}"),
            description=first["summary"] or None, ratings=[VulnerabilityRating(severity=VulnerabilitySeverity(
                first["severity"] if first["severity"] != "negligible" else "info"))],
            recommendation=f"Upgrade to {', '.join(fixed)}" if fixed else None,
            affects=[BomTarget(ref=t) for t in targets]))


def spdx(image: str, config_digest: str, doc: dict) -> str:
    """SPDX 2.3 JSON: the image a package of its own that CONTAINS every other; each
    package with its purl (a PACKAGE-MANAGER reference), its declared licence when it is
    an SPDX expression (else NOASSERTION), files not analysed."""
    import io
    import uuid
    from datetime import datetime, timezone

    from license_expression import ExpressionError, get_spdx_licensing
    from spdx_tools.spdx.model import (Actor, ActorType, CreationInfo, Document, ExternalPackageRef,
                                       ExternalPackageRefCategory, Package, PackagePurpose, Relationship,
                                       RelationshipType, SpdxNoAssertion)
    from spdx_tools.spdx.writer.json.json_writer import write_document_to_stream

    from distill import __version__

    info = CreationInfo(spdx_version="SPDX-2.3", spdx_id="SPDXRef-DOCUMENT", name=image, data_license="CC0-1.0",
                        document_namespace=f"https://spdx.org/spdxdocs/distill/{uuid.uuid4()}",
                        creators=[Actor(ActorType.TOOL, f"distill-{__version__}")],
                        created=datetime.now(timezone.utc).replace(microsecond=0))
    root = Package(spdx_id="SPDXRef-image", name=image, download_location=SpdxNoAssertion(),
                   version=config_digest, files_analyzed=False, primary_package_purpose=PackagePurpose.CONTAINER)
    packages, relations = [root], [Relationship("SPDXRef-DOCUMENT", RelationshipType.DESCRIBES, "SPDXRef-image")]
    licensing = None
    for i, c in enumerate(doc["components"]):
        canonical = spdx_expression(c["license"]) if c.get("license") else None
        declared = None
        if canonical is not None:
            licensing = licensing or get_spdx_licensing()  # built once, only when needed
            try:
                declared = licensing.parse(canonical, validate=True, strict=True)
            except ExpressionError:
                declared = None
        sid = f"SPDXRef-package-{i}"
        packages.append(Package(spdx_id=sid, name=c["name"], version=c["version"], download_location=SpdxNoAssertion(),
                                files_analyzed=False,
                                license_declared=SpdxNoAssertion() if declared is None else declared,
                                source_info=f"layer {c['layer']}" + (f", {c['stage']}:{c['line']}" if c.get("stage")
                                                                     else "") if c.get("layer") is not None else None,
                                external_references=[ExternalPackageRef(ExternalPackageRefCategory.PACKAGE_MANAGER,
                                                                        "purl", c["purl"])]))
        relations.append(Relationship("SPDXRef-image", RelationshipType.CONTAINS, sid))
    out = io.StringIO()
    write_document_to_stream(Document(info, packages=packages, relationships=relations), out, validate=True)
    return out.getvalue()


def spdx_expression(text: str) -> str | None:
    """The licence text as a canonical SPDX expression, or None when it is not one
    (packaging's licence list: fast, where building license-expression's is ~50 ms)."""
    from packaging.licenses import InvalidLicenseExpression, canonicalize_license_expression

    try:
        return str(canonicalize_license_expression(text))
    except InvalidLicenseExpression:
        return None


def _licence(text: str, expression, single):
    """An SPDX expression when the text is one, else the text as a licence name."""
    canonical = spdx_expression(text)
    if canonical is None:
        return single(name=text[:200])
    return expression(canonical) if " " in canonical else single(id=canonical)
