"""The parts of ``benchmarks/http_load.py``: the Django project every Django server variant
serves (``settings``, ``urls``, ``views``, ``wsgi``, ``asgi``), the Node app (``app.js``),
the wrk script (``sessions.lua``), and the code that starts the stores (``backends``) and
the app servers (``servers``), drives wrk (``load``) and prints the table (``report``).
"""
