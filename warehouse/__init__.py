"""The warehouse: SQLAlchemy engine, table layout (raw → staged → derived, checks, ledger) and loaders."""
