"""`modelrouter eval`."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments."""


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    raise SystemExit("modelrouter eval: not implemented yet")
