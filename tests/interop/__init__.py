"""Live session sharing between a real Express app and the Django app (issue 6)."""
