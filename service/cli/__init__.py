"""The `timeline` command: serve, seed, import, export and the maintenance verbs.

Results go to standard output; messages and progress bars go to standard error.
"""

from service.cli.parser import build_parser, main

__all__ = ["build_parser", "main"]
