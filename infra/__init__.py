"""Infrastructure: settings, Postgres, Kafka administration, the local stack and the CLI."""
