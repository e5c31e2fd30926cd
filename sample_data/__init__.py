"""Lumen Labs: fictional demo data for `finops demo` (see README.md; regenerate with generate.py)."""
