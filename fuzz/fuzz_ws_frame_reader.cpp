// libFuzzer target: arbitrary bytes as a WebSocket frame stream, through the frame reader the
// server and the client both read with (src/http/ws_codec.hpp).
//
// The first two bytes choose the reader: its role, permessage-deflate (window, context
// takeover), a small or a large max_msg_size, and where the rest is split. The rest is fed in
// one piece and again in two pieces split there: both ways must read the same messages and
// fail with the same close code. Every message read must keep the reader's promises (text is
// UTF-8, nothing over max_msg_size, control payloads of at most 125 bytes, close codes that may
// be sent), and a writer must turn the messages back into frames the reader reads as they were.
//
// A ProtocolError is the reader's answer to bad frames. A crash, a sanitizer report, a leak, an
// exception, a broken promise or a difference between the two ways is a finding.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ws_codec.hpp"

using aio::http::WSMessage;
using aio::http::WSMsgType;
using namespace aio::http::detail::ws;

namespace {

struct Outcome {
    std::vector<WSMessage> messages;
    std::optional<uint16_t> error;
};

[[noreturn]] void finding(const char* what) {
    std::fprintf(stderr, "fuzz_ws_frame_reader: %s\n", what);
    std::abort();
}

bool same(const WSMessage& a, const WSMessage& b) {
    return a.type == b.type && a.data == b.data && a.close_code == b.close_code && a.extra == b.extra;
}

bool same(const Outcome& a, const Outcome& b) {
    if (a.error != b.error || a.messages.size() != b.messages.size()) return false;
    for (size_t i = 0; i < a.messages.size(); ++i)
        if (!same(a.messages[i], b.messages[i])) return false;
    return true;
}

Outcome read(Role role, const ReaderOptions& options, std::string_view data, size_t split) {
    FrameReader r(role, options);
    Outcome out;
    std::string_view pieces[2] = {data.substr(0, split), data.substr(split)};
    for (std::string_view piece : pieces) {
        while (true) {
            if (r.state() == FrameReader::State::message) {
                out.messages.push_back(r.take());
                continue;
            }
            if (r.state() != FrameReader::State::reading || piece.empty()) break;
            size_t n = r.feed(piece);
            if (n == 0 && r.state() == FrameReader::State::reading) finding("feed took nothing while reading");
            piece.remove_prefix(n);
        }
    }
    if (r.state() == FrameReader::State::failed) {
        out.error = r.error().code;
        if (*out.error != 1002 && *out.error != 1007 && *out.error != 1009) finding("unexpected close code");
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    const uint8_t config = data[0];
    const Role role = config & 1 ? Role::server : Role::client;
    ReaderOptions options;
    options.max_msg_size = config & 2 ? 64 : 1 << 20;
    if (config & 4) options.deflate = DeflateSide(8 + ((config >> 3) & 7), config & 64);
    std::string_view stream(reinterpret_cast<const char*>(data) + 2, size - 2);
    const size_t split = stream.empty() ? 0 : data[1] % (stream.size() + 1);

    Outcome whole = read(role, options, stream, stream.size());
    Outcome split_read = read(role, options, stream, split);
    if (!same(whole, split_read)) finding("the split changed what was read");

    for (const auto& m : whole.messages) {
        switch (m.type) {
            case WSMsgType::TEXT:
                if (!valid_utf8(m.data)) finding("text that is not UTF-8");
                [[fallthrough]];
            case WSMsgType::BINARY:
                if (m.data.size() > options.max_msg_size) finding("a message over max_msg_size");
                break;
            case WSMsgType::PING:
            case WSMsgType::PONG:
                if (m.data.size() > max_control_payload) finding("a control payload over 125 bytes");
                break;
            case WSMsgType::CLOSE:
                if (m.close_code != 1005 && !aio::http::ws_close_code_allowed(m.close_code)) finding("bad close code");
                if (!valid_utf8(m.extra) || m.extra.size() > 123) finding("bad close reason");
                break;
            default:
                finding("a message type the reader never makes");
        }
    }

    // Back through a writer of the other role, compressed as the reader was, fragmented: the
    // reader must read exactly the same messages.
    WriterOptions wo;
    wo.deflate = options.deflate;
    wo.fragment_size = 1 + data[1] % 50;
    FrameWriter w(role == Role::server ? Role::client : Role::server, wo);
    std::string wire;
    std::vector<WSMessage> sent;
    for (const auto& m : whole.messages) {
        if (m.type == WSMsgType::TEXT || m.type == WSMsgType::BINARY)
            w.message(wire, m.type, m.data);
        else if (m.type == WSMsgType::PING)
            w.ping(wire, m.data);
        else if (m.type == WSMsgType::PONG)
            w.pong(wire, m.data);
        else
            w.close(wire, m.close_code == 1005 ? 0 : m.close_code, m.extra);
    }
    Outcome again = read(role, options, wire, wire.size() / 2);
    if (again.error || !same(Outcome{whole.messages, std::nullopt}, again)) finding("the round trip changed messages");
    return 0;
}
