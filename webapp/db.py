"""The database: one engine per process from the settings' URL, tables created on first use."""
from __future__ import annotations

from sqlalchemy import Engine, create_engine, event
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


def init_db(engine: Engine, settings: Settings) -> sessionmaker:
    Base.metadata.create_all(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    with sessions.begin() as session:
        have = {slot for (slot,) in session.query(EvalSlot.slot)}
        session.add_all(EvalSlot(slot=n) for n in range(settings.max_concurrent_evals) if n not in have)
    return sessions
