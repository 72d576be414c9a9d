"""Conversation memory: what was said and heard, persisted and reloaded."""
