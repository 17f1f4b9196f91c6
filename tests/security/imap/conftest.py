"""The IMAP fixtures of the protocol tests, for the attacks."""

from tests.protocol.imap.conftest import running, running_any

__all__ = ["running", "running_any"]
