"""Rescan what runs: the image digest each environment runs, scanned again with Trivy.

Committed by the dev stack into the application repository (``.github/security-rescan/``) and
run by rescan.yml (components/workflows/rescan.py) as ``python -m security_rescan``. It reads
only the GitHub API (through ``gh api``) and runs only ``trivy``; the standard library does the
rest, so the one pinned requirement is the scanner itself (requirements.txt).
"""
