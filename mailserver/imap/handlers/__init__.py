"""Command handlers, one module per command family. Each takes the parsed command, the
session and the (already checked) state, and returns an Outcome; failures raise
CommandFailed."""
