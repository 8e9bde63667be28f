"""A project on ``django.contrib.sessions`` (``old_settings``) switched to this package
with ``migrateFrom`` (``new_settings``): the same views, users and database."""
