"""The command line: the only package that prints or exits (`litesig = litesig.cli:entry`)."""

from .main import entry, main

__all__ = ["entry", "main"]
