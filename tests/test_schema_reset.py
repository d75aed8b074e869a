"""Each test starts on the models' schema with no rows, though the schema is built once
(tests/support/schema.py): rows are gone, ids start at 1 again, and a schema a test
dropped or migrated is rebuilt."""

from __future__ import annotations

from sqlalchemy import func, inspect, select, text

from server.core.db import db
from tests.conftest import _reset_sql
from tests.factories import make_round
from tests.support.blank_db import drop_everything


def _rows(app) -> dict[str, int]:
    with app.app_context():
        return {t.name: db.session.scalar(select(func.count()).select_from(t))
                for t in db.metadata.sorted_tables}


def test_a_reset_leaves_no_rows_and_ids_start_at_one(app):
    with app.app_context():
        first, _ = make_round("appraisal", tokens_per_category=2)
        assert first.id == 1
        make_round("recommendation", tokens_per_category=1)
        db.session.remove()
    _reset_sql(app)
    assert not any(_rows(app).values())
    with app.app_context():
        again, _ = make_round("appraisal", tokens_per_category=2)
        assert again.id == 1 and again.subjects[0].id == 1


def test_a_dropped_or_migrated_schema_is_built_again(app):
    drop_everything(app)
    _reset_sql(app)
    with app.app_context():
        assert set(inspect(db.engine).get_table_names()) == set(db.metadata.tables)
        db.session.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
        db.session.commit()
    _reset_sql(app)
    with app.app_context():
        assert set(inspect(db.engine).get_table_names()) == set(db.metadata.tables)
        make_round("appraisal")
