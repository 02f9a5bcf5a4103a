"""The command line: click commands; formatting lives in apps/ and text/."""

from eligibility.cli.main import main

__all__ = ["main"]
