"""Real servers for the tests, started by the suite on free loopback ports.

Each module here is a pytest plugin (loaded by ``tests/conftest.py``). A module that
offers a store for the store-parametrized tests lists its variants in
``STORE_VARIANTS`` and defines, for each, a fixture ``store_<variant>`` that returns the
``EXPRESS_SESSION["store"]`` dict pointing at its server (and makes any settings it
needs, such as ``CACHES``, through pytest-django's ``settings`` fixture).
"""
