"""The `salus` command line: one module per command group."""
