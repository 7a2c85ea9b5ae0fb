"""Offline render of the Pulumi program (see render/engine.py and design section 6)."""

from typing import Final

COMMENT_BUDGET: Final = 20_000
"""Per stack, what a pull request comment can hold: three stacks and a header stay below
GitHub's 65,536-character comment limit (reports of ``--diff``/``--compare``, render/diff.py).

Here rather than in render/diff.py so that ``python -m render`` names it in its help without
importing the diff module, which only ``--diff``/``--compare`` need (issue 14 item 8)."""
