"""Typed records at streamrec's boundaries: Kafka events and HTTP payloads. No I/O."""
