"""keyed body hash

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 08:30:00

Placeholder so that later revisions can chain onto 0005; the data migration
(unkeyed SHA-256 fingerprints replaced by keyed ones) follows in the next commit.
"""


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
