"""Email to segment members: campaigns frozen at send time, delivered by a worker through
SMTP (or into an outbox folder), each delivery at most once."""
