"""express-session's session model for Django."""

__version__ = "0.1.0"
