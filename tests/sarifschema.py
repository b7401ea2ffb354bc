"""SARIF output checked against the SARIF 2.1.0 JSON schema (scripts/setup.sh fetches it)."""

import json
import os
from urllib.parse import urlsplit

SCHEMA = "/var/cache/distill-tests/sarif-2.1.0.json"


def assert_valid_sarif(doc: dict) -> None:
    import jsonschema

    assert os.path.exists(SCHEMA), f"{SCHEMA} is missing: scripts/setup.sh fetches it"
    with open(SCHEMA) as f:
        schema = json.load(f)
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]
    assert errors == [], errors
    # the schema's "uri" format is not asserted by jsonschema: every location must be a URI
    # reference (a file: URI for an absolute path), never a bare absolute path
    for run in doc["runs"]:
        for result in run["results"]:
            for loc in result.get("locations", []):
                uri = loc["physicalLocation"]["artifactLocation"]["uri"]
                parts = urlsplit(uri)
                assert " " not in uri and (parts.scheme == "file" or not uri.startswith("/")), uri
