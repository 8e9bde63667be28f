"""Run mongoeco's MongoDB wire-protocol server until killed (no ``mongod`` can be
installed on the test machines).

    python3.13 tests/servers/mongoeco_server.py PORT [SQLITE_FILE]

mongoeco needs Python 3.13, so ``tests/servers/mongodb.py`` runs this file with the
interpreter of ``.venv-mongoeco`` as a separate process. Without ``SQLITE_FILE`` the
documents live in memory. This module is also loaded as a pytest plugin (every module of
``tests/servers`` is), so it imports mongoeco only when run.
"""

from __future__ import annotations

import asyncio
import signal
import sys


async def serve(port: int, sqlite_file: str | None) -> None:
    from mongoeco.wire import AsyncMongoEcoProxyServer

    engine = None
    if sqlite_file:
        from mongoeco.engines.sqlite import SQLiteEngine

        engine = SQLiteEngine(sqlite_file)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    async with AsyncMongoEcoProxyServer(engine=engine, host="127.0.0.1", port=port):
        await stopped.wait()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None))
