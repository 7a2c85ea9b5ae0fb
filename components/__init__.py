"""Pulumi components of the delivery pipeline; config/ is the only reader of stack config."""
