"""Subcommands of the ``lsvid`` command line, one module per group of commands."""
