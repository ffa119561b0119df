"""Issue #20's peers: the same WebSocket echo as bench/ws_server.cpp on python3-websockets and on
aiohttp.web, for bench/compare_ws.sh.

usage: /usr/bin/python3 bench/py_ws_peers.py websockets|aiohttp PORT [--loop uvloop|asyncio]
"""
import asyncio
import sys


async def websockets_server(port):
    import websockets

    async def echo(ws, path=None):  # websockets 10 passes the path too
        async for message in ws:
            await ws.send(message)

    async with websockets.serve(echo, "127.0.0.1", port, max_size=None, compression="deflate"):
        await asyncio.Future()


async def aiohttp_server(port):
    from aiohttp import web

    async def echo(request):
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == web.WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type == web.WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/ws", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Future()


def main():
    kind, port = sys.argv[1], int(sys.argv[2])
    loop = sys.argv[sys.argv.index("--loop") + 1] if "--loop" in sys.argv else "uvloop"
    if loop == "uvloop":
        import uvloop
        uvloop.install()
    server = {"websockets": websockets_server, "aiohttp": aiohttp_server}[kind]
    try:
        asyncio.run(server(port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
