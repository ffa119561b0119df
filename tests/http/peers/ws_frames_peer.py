"""The WebSocket codec's peer: Python's websockets library frames messages for the C++ reader
(encode) and parses what the C++ writer framed (decode). Run by tests/http/test_ws_codec.cpp.

  ws_frames_peer.py encode MODE   frames of messages() as a client (masked) on stdout
  ws_frames_peer.py decode MODE   frames of a server (unmasked) on stdin; prints "ok" when they
                                  make messages(), else what differs
MODE: plain, deflate (context takeover both ways) or deflate-no-takeover.
"""
import sys

from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_TEXT, Close, Frame
from websockets.streams import StreamReader


def messages():
    """The list test_ws_codec.cpp's peer_messages() makes: (opcode, payload)."""
    t = "café € \U0001d11e " * 300
    return [
        (OP_TEXT, b"Hello"),
        (OP_TEXT, b""),
        (OP_TEXT, t.encode()),
        (OP_BINARY, bytes((i * 7) % 251 for i in range(70000))),
        (OP_PING, b"are you there"),
        (OP_TEXT, t.encode()),  # sent in fragments
        (OP_CLOSE, Close(1001, "bye é").serialize()),
    ]


def extensions(mode):
    if mode == "plain":
        return []
    no_takeover = mode == "deflate-no-takeover"
    return [PerMessageDeflate(no_takeover, no_takeover, 15, 15)]


def encode(mode):
    exts = extensions(mode)
    out = bytearray()
    for i, (op, data) in enumerate(messages()):
        if i == 5:
            parts = [data[:1000], data[1000:2001], data[2001:]]
            ops = [op, OP_CONT, OP_CONT]
            for k, part in enumerate(parts):
                out += Frame(ops[k], part, fin=k == 2).serialize(mask=True, extensions=exts)
        else:
            out += Frame(op, data).serialize(mask=True, extensions=exts)
    sys.stdout.buffer.write(bytes(out))


def decode(mode):
    exts = extensions(mode)
    reader = StreamReader()
    reader.feed_data(sys.stdin.buffer.read())
    reader.feed_eof()
    got = []
    current = None
    while reader.buffer:
        parser = Frame.parse(reader.read_exact, mask=False, extensions=exts)
        try:
            next(parser)
            raise RuntimeError("incomplete frame")
        except StopIteration as done:
            frame = done.value
        if frame.opcode in (OP_PING, OP_CLOSE):
            got.append((frame.opcode, frame.data))
        elif frame.opcode == OP_CONT:
            current[1].extend(frame.data)
            if frame.fin:
                got.append((current[0], bytes(current[1])))
        else:
            current = (frame.opcode, bytearray(frame.data))
            if frame.fin:
                got.append((current[0], bytes(current[1])))
    want = messages()
    if got == want:
        print("ok")
        return
    print(f"{len(got)} messages, want {len(want)}")
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            print(f"#{i}: {g[0]} {g[1][:40].hex()} ({len(g[1])} bytes), want {w[0]} {w[1][:40].hex()} ({len(w[1])})")


if __name__ == "__main__":
    {"encode": encode, "decode": decode}[sys.argv[1]](sys.argv[2])
