"""The real-time conversation: WebSocket protocol, turn-taking, barge-in and paced playout."""
