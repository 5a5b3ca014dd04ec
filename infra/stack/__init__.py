"""The local stack: the real Kafka broker and a Postgres cluster of streamrec's own,
started and stopped by ``streamrec stack up|down`` on machines without Docker."""
