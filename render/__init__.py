"""Offline render of the Pulumi program (see render/engine.py and design section 6)."""
