"""Storage: SQLAlchemy 2 async models and Alembic migrations for SQLite and PostgreSQL."""
