"""brainreps: deep-network vs mouse visual cortex representations, and spike inference."""

__version__ = "0.1.0"
