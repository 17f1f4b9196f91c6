from tests.protocol.e2e.conftest import gpg, salus, salus_any_db

__all__ = ["gpg", "salus", "salus_any_db"]
