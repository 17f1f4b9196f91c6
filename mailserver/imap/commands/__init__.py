"""IMAP commands as typed values, one module per family, and `parse_command` that turns
the bytes of one complete command into one of them (pure)."""
