"""Session stores. ``Store`` is the base class to subclass for a custom backend."""

from .base import Store, Versioned

__all__ = ["Store", "Versioned"]
