"""The `harness` command: argument parsing and one function per command (commands.py holds
the parser and the dispatch; hosts, project and sandbox add their sub-commands; progress is
the live table; rehearse runs a study on sandbox hosts). Nothing below imports this package."""

from harness.cli.commands import main

__all__ = ["main"]
