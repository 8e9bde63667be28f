"""The drivers on plain plans, with a store that only records: operations reach the
store's plain or async methods, errors go back into the plan, and writers of one key in
this process take turns."""

from __future__ import annotations

import asyncio
import threading

from django_express_session.core import ops
from django_express_session.core.drive import arun, run
from django_express_session.exceptions import CreateError, StoreUnavailable


class Recorder:
    name = "recorder"
    connection_errors = (ConnectionError,)
    blocking = False
    native_async = True
    thread_sensitive = False

    def __init__(self, fail: BaseException | None = None) -> None:
        self.calls: list[str] = []
        self.fail = fail

    def create(self, sid, record):
        self.calls.append(f"create {sid}")
        if self.fail:
            raise self.fail

    async def acreate(self, sid, record):
        self.calls.append(f"acreate {sid}")
        if self.fail:
            raise self.fail

    # The ``core.ops.Performer`` protocol.
    def perform(self, op):
        match op:
            case ops.Create(sid, record):
                return self.create(sid, record)
        raise TypeError(op)

    async def aperform(self, op):
        match op:
            case ops.Create(sid, record):
                return await self.acreate(sid, record)
        raise TypeError(op)


def creating(sid):
    try:
        yield ops.Create(sid, {"cookie": {}})
    except CreateError:
        return "taken"
    return "created"


def test_run_and_arun_perform_the_same_plan_with_their_methods():
    store = Recorder()
    assert run(creating("a"), store) == "created"
    assert asyncio.run(arun(creating("b"), store)) == "created"
    assert store.calls == ["create a", "acreate b"]


def test_an_operation_error_goes_back_into_the_plan():
    assert run(creating("a"), Recorder(CreateError("a"))) == "taken"
    assert asyncio.run(arun(creating("a"), Recorder(CreateError("a")))) == "taken"


def test_a_connection_error_reaches_the_plan_as_store_unavailable():
    seen = []

    def plan():
        try:
            yield ops.Create("a", {})
        except StoreUnavailable as error:
            seen.append(str(error))

    run(plan(), Recorder(ConnectionError("refused")))
    assert seen == ["the recorder session store is unreachable: refused"]


def test_writers_of_one_key_take_turns_on_an_event_loop():
    inside, most = [0], [0]
    waited = []

    def turn(was_waiting):
        waited.append(was_waiting)
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        yield ops.Sleep(0.01)
        inside[0] -= 1
        return was_waiting

    def plan():
        return (yield ops.Exclusive("key", turn))

    async def main():
        return await asyncio.gather(*(arun(plan(), Recorder()) for _ in range(5)))

    assert asyncio.run(main()) == [False, True, True, True, True]
    assert most[0] == 1


def test_writers_of_one_key_take_turns_across_threads():
    inside, most = [0], [0]
    guard = threading.Lock()

    def turn(_):
        with guard:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        yield ops.Sleep(0.01)
        with guard:
            inside[0] -= 1

    def plan():
        yield ops.Exclusive("key", turn)

    threads = [threading.Thread(target=run, args=(plan(), Recorder())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 1
