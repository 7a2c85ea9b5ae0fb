"""The cicd-guardrails CrossGuard policy pack: rules in rules.py, wiring in __main__.py."""
