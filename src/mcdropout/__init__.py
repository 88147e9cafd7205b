"""mcdropout: what dropout does to a network, and what MC dropout knows about its uncertainty."""

__version__ = "0.1.0"
