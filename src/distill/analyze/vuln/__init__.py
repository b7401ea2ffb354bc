"""Vulnerabilities, offline: OSV records in a local database (db.py), matched against an
image's packages with each ecosystem's version order (versions.py, osv.py)."""
