"""Entry point of the platform project: the program is components/platform_stack.py.

The program shares components/ with the environment project one folder up, so that folder is
put on the import path first (the Pulumi CLI runs this file with platform/ as working directory).
"""

import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
importlib.import_module("components.platform_stack").main()
