"""CPython side of the differential tests: each scenario prints a trace of events, one per line.
tests/differential/trace.cpp implements the same scenarios with aiocpp; ctest runs both and
requires identical output. Only the order of events is printed, never times, so the traces do
not depend on the machine's speed."""
import asyncio
import sys


def p(*a):
    print(*a, flush=True)


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """The clock aio_trace runs on (aiocpp's LoopOptions::virtual_time), for CPython: time stands
    still while anything is ready and jumps to the next timer when the loop would sleep. Orders
    then follow deadlines alone, whatever the machine's load (a real clock once let a 30 ms timer
    fire in the same iteration as a 20 ms one on a busy CI machine). Uses BaseEventLoop's private
    _ready/_scheduled (CPython 3.11-3.13)."""

    def __init__(self):
        super().__init__()
        self._virtual_now = 0.0

    def time(self):
        return self._virtual_now

    def _run_once(self):
        if not self._ready:
            live = [h for h in self._scheduled if not h._cancelled]
            if live:
                self._virtual_now = max(self._virtual_now, min(h._when for h in live))
        super()._run_once()


def run(coro):
    with asyncio.Runner(loop_factory=VirtualClockLoop) as runner:
        return runner.run(coro)


async def ordering():
    loop = asyncio.get_running_loop()
    for i in range(3):
        loop.call_soon(p, "soon", i)

    async def spin(name, n):
        for i in range(n):
            p(name, i)
            await asyncio.sleep(0)

    loop.call_later(0.020, p, "timer 20ms")
    loop.call_later(0.010, p, "timer 10ms")
    a = asyncio.create_task(spin("a", 3))
    b = asyncio.create_task(spin("b", 3))
    p("main before await")
    await asyncio.gather(a, b)
    p("gathered")
    await asyncio.sleep(0.050)
    p("main end")


async def cancel():
    async def sleeper(name, swallow):
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError as e:
            p(name, "cancelled with", repr(e.args[0] if e.args else ""))
            await asyncio.sleep(0)
            p(name, "cleanup done")
            if swallow:
                return name + " swallowed"
            raise

    t1 = asyncio.create_task(sleeper("t1", False))
    t2 = asyncio.create_task(sleeper("t2", True))
    await asyncio.sleep(0)
    p("cancel t1", t1.cancel("stop"))
    p("cancel t2", t2.cancel())
    for t in (t1, t2):
        try:
            p("result", await t)
        except asyncio.CancelledError:
            p("awaiting raised CancelledError")
    p("t1 cancelled", t1.cancelled(), "t2 cancelled", t2.cancelled())

    ran = []

    async def body():
        ran.append(1)

    t3 = asyncio.create_task(body())
    t3.cancel()
    try:
        await t3
    except asyncio.CancelledError:
        p("t3 cancelled before start, body ran", len(ran))

    async def inner():
        try:
            await asyncio.sleep(10)
        finally:
            p("inner finally")

    async def outer(t):
        try:
            await t
        finally:
            p("outer finally")

    ti = asyncio.create_task(inner())
    to = asyncio.create_task(outer(ti))
    await asyncio.sleep(0)
    to.cancel()
    try:
        await to
    except asyncio.CancelledError:
        pass
    p("inner cancelled", ti.cancelled(), "outer cancelled", to.cancelled())


async def gather():
    async def work(name, delay, fail=False):
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            p(name, "cancelled")
            raise
        if fail:
            p(name, "fails")
            raise ValueError(name)
        p(name, "done")
        return name

    p("results", await asyncio.gather(work("a", 0.030), work("b", 0.010), work("c", 0.020)))
    try:
        await asyncio.gather(work("d", 0.010, fail=True), work("e", 0.030))
    except ValueError as e:
        p("gather raised ValueError", e)
    await asyncio.sleep(0.050)  # e keeps running and finishes
    res = await asyncio.gather(work("f", 0.010, fail=True), work("g", 0.020), return_exceptions=True)
    p("return_exceptions", [type(r).__name__ if isinstance(r, BaseException) else r for r in res])
    g = asyncio.ensure_future(asyncio.gather(work("h", 1), work("i", 1)))
    await asyncio.sleep(0.010)
    g.cancel()
    try:
        await g
    except asyncio.CancelledError:
        p("outer gather cancelled")


async def timeouts():
    async def slow(name):
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            p(name, "cancelled, cleaning up")
            await asyncio.sleep(0)
            p(name, "cleanup finished")
            raise

    try:
        await asyncio.wait_for(slow("w"), 0.010)
    except asyncio.TimeoutError:
        p("wait_for: TimeoutError")

    async def stubborn():
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return "kept going"

    p("wait_for swallowed:", await asyncio.wait_for(stubborn(), 0.010))
    try:
        async with asyncio.timeout(0.010) as cm:
            await slow("t")
    except TimeoutError:
        p("timeout: TimeoutError, expired", cm.expired())

    inner = asyncio.create_task(asyncio.sleep(0.020, "shielded result"))

    async def waiter():
        return await asyncio.shield(inner)

    w = asyncio.create_task(waiter())
    await asyncio.sleep(0.010)
    w.cancel()
    try:
        await w
    except asyncio.CancelledError:
        p("shield: waiter cancelled")
    p("shield: inner result", await inner)


async def taskgroup():
    async def child(name, delay, fail=False):
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            p(name, "cancelled")
            raise
        if fail:
            p(name, "fails")
            raise ValueError(name)
        p(name, "done")

    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(child("a", 0.010))
            tg.create_task(child("b", 0.020, fail=True))
            tg.create_task(child("c", 0.030))
            await asyncio.sleep(1)
            p("body not cancelled?!")
    except* ValueError as eg:
        p("ExceptionGroup with", [str(e) for e in eg.exceptions])
    async with asyncio.TaskGroup() as tg:
        for i in range(3):
            tg.create_task(child("ok%d" % i, 0.010 * (3 - i)))
    p("all children done")


async def shutdown_main():
    async def bg(name):
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            p(name, "cancelled at shutdown")
            raise

    asyncio.create_task(bg("bg"))
    await asyncio.sleep(0)
    p("main returns")
    return 7


SCENARIOS = {"ordering": ordering, "cancel": cancel, "gather": gather, "timeouts": timeouts,
             "taskgroup": taskgroup}

if __name__ == "__main__":
    name = sys.argv[1]
    if name == "shutdown":
        p("run returned", run(shutdown_main()))
    else:
        run(SCENARIOS[name]())
