"""The HTTP layer every API shares: base view, permissions, throttling, idempotency, pagination, admission."""
