"""mailbox store

Tables owned by mailserver/store/models.py (IMAP folders and messages).

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Filled in by the owning package's first commit of tables."""


def downgrade() -> None:
    """Mirror of upgrade()."""
