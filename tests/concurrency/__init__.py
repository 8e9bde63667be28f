"""The multi-worker race: a real server (gunicorn, or node for the express anchor), many
client threads adding one key each to one session, and a read-back of what survived.

Used by ``tests/test_concurrency.py`` (ours, on every store) and by
``benchmarks/lost_updates.py`` (ours beside Django's engines and express-session).
"""
