"""Subcommands of the `modelrouter` command line, one module each."""
