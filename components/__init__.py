"""Pulumi components of the delivery pipeline; config.py is the only reader of stack config."""
