"""The ``fakescope`` command line.

Exit status: 0 when every input was scanned (whatever the verdicts), 1 when some input
failed (each failure is reported and the rest still scanned), 2 for usage errors.
"""

from fakescope.cli.main import main

__all__ = ["main"]
