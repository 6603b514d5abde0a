"""Message log and outbox admin (read-only browse, retry)."""
