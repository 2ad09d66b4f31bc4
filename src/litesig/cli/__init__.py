"""The command line: the only package that prints or exits (`litesig = litesig.cli:main`)."""

from .main import main

__all__ = ["main"]
