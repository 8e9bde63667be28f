"""The session core: plain Python, no I/O and no Django.

``state`` is what a session remembers between load and response, ``decide`` is
express-session's per-request decision over plain facts, ``plans`` are the store
conversations (load, create with retries, compare-and-set merge) written once as
generators, and ``drive`` runs a plan against a store, synchronously or with asyncio.
"""
