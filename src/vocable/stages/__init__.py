"""Pipeline stages, in flow order: vad, turn, transcribe, respond, chunk_sentences, synthesize."""
