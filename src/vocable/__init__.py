"""vocable: a private, real-time voice assistant that runs on your own machine."""

__version__ = "0.1.0"
