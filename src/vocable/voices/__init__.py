"""Voice profiles: sample checks, speaker embeddings, offline voice matching, similarity scores.

Import `vocable.voices.service.VoiceService` for the whole workflow; the heavy dependencies
(torch, resemblyzer, librosa, pyloudnorm, praat-parselmouth) are the ``voices`` extra and load
only when a profile is enrolled or spoken.
"""
