"""All of streamrec's SQL: one module per table family, set-based, asyncpg."""
