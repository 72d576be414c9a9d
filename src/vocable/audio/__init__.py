"""Audio formats: decoding, validation, conversion and WAV output."""
