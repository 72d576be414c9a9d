"""OpenAI-compatible speech endpoints: ``/v1/audio/speech``, ``/v1/audio/transcriptions``."""
