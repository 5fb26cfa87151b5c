"""The database: one engine per process from the settings' URL, tables created on first use and columns
added since a database was created added to it (there are no migrations: every later column is nullable)."""
from __future__ import annotations

from sqlalchemy import Column, Engine, create_engine, event, inspect, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import sessionmaker

from webapp.settings import Settings
from webapp.tables import Base, EvalSlot


def make_engine(settings: Settings) -> Engine:
    url = settings.database_url
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # the web process, the worker's threads and its heartbeats write concurrently: wait for the lock
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _wal(dbapi_connection, _record) -> None:
        # readers never block the writer, so pages stay quick while a heartbeat commits
        dbapi_connection.execute("PRAGMA journal_mode=WAL")

    return engine


def _missing_columns(engine: Engine) -> list[Column]:
    inspector = inspect(engine)
    missing = []
    for table in Base.metadata.sorted_tables:
        have = {c["name"] for c in inspector.get_columns(table.name)}
        missing += [column for column in table.columns if column.name not in have]
    return missing


def add_missing_columns(engine: Engine) -> None:
    """create_all never alters an existing table: a database from an earlier version gets the newer columns here,
    NULL in its old rows."""
    quote = engine.dialect.identifier_preparer.quote
    for column in _missing_columns(engine):
        ddl = (f"ALTER TABLE {quote(column.table.name)} ADD COLUMN {quote(column.name)} "
               f"{column.type.compile(engine.dialect)}")
        try:
            with engine.begin() as connection:
                connection.execute(text(ddl))
        except DBAPIError:
            # the web process and a worker starting together: the other one may have added it first
            if (column.table.name, column.name) in {(c.table.name, c.name) for c in _missing_columns(engine)}:
                raise


def init_db(engine: Engine, settings: Settings) -> sessionmaker:
    Base.metadata.create_all(engine)
    add_missing_columns(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    with sessions.begin() as session:
        have = {slot for (slot,) in session.query(EvalSlot.slot)}
        session.add_all(EvalSlot(slot=n) for n in range(settings.max_concurrent_evals) if n not in have)
    return sessions
