"""submissions.visible_result: the report of a visible-cases-only grading (what a student
reads of an assignment that withholds its hidden cases: grader.serve.policy.reveal).

Nullable: rows graded before this revision have none, and are shown with fixed wording only.

Revision ID: 0002
Revises: 0001
Create Date: 2025-06-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("submissions", sa.Column("visible_result", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("submissions") as batch:  # SQLite: a table copy
        batch.drop_column("visible_result")
