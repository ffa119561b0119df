// The WebSocket codec on its own (src/http/ws_codec.hpp): RFC 6455's and RFC 7692's examples
// byte for byte, every way a peer can break the protocol and the close code it earns, that how
// the bytes are split between feed() calls never changes what is read, a round trip of random
// messages, and Python's websockets library as the peer on both sides.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "aio/http/websocket.hpp"
#include "ws_codec.hpp"

using aio::http::WSCloseCode;
using aio::http::WSMessage;
using aio::http::WSMsgType;
using namespace aio::http::detail::ws;

namespace aio::http {
bool operator==(const WSMessage& a, const WSMessage& b) {
    return a.type == b.type && a.data == b.data && a.close_code == b.close_code && a.extra == b.extra;
}
void PrintTo(const WSMessage& m, std::ostream* os) {
    *os << "{type " << static_cast<int>(m.type) << ", " << m.data.size() << " bytes";
    if (m.data.size() <= 40) *os << " \"" << m.data << "\"";
    *os << ", code " << m.close_code << ", extra \"" << m.extra << "\"}";
}
}  // namespace aio::http

namespace {

std::string bytes(std::initializer_list<int> b) {
    std::string s;
    for (int c : b)
        s.push_back(static_cast<char>(c));
    return s;
}

struct Outcome {
    std::vector<WSMessage> messages;
    std::optional<uint16_t> error;  // the close code the reader asks for
    size_t consumed = 0;            // bytes fed before the reader stopped taking them
    bool closed = false;
    bool operator==(const Outcome&) const = default;
};

// Feeds `data` in pieces of `step` bytes (0: all at once), taking each message as it is ready.
Outcome read_with(Role role, std::string_view data, const ReaderOptions& options, size_t step) {
    FrameReader r(role, options);
    Outcome out;
    size_t pos = 0;
    for (;;) {
        if (r.state() == FrameReader::State::message) {
            out.messages.push_back(r.take());
            continue;
        }
        if (r.state() == FrameReader::State::failed) {
            out.error = r.error().code;
            break;
        }
        if (r.state() == FrameReader::State::closed) {
            out.closed = true;
            break;
        }
        if (pos == data.size()) break;
        size_t len = step ? std::min(step, data.size() - pos) : data.size() - pos;
        pos += r.feed(data.substr(pos, len));
    }
    out.consumed = pos;
    return out;
}

// Whole, byte by byte and in 7-byte pieces: the split is the network's, never the reader's,
// so all three must agree (how many bytes were taken before a failure included).
Outcome read(Role role, std::string_view data, const ReaderOptions& options = {}) {
    Outcome whole = read_with(role, data, options, 0);
    Outcome bytewise = read_with(role, data, options, 1);
    Outcome sevens = read_with(role, data, options, 7);
    // Where a failure is found inside a payload, how much of it was taken depends on the split;
    // one found in a header is at the same byte every way.
    if (whole.error && whole.consumed != bytewise.consumed) bytewise.consumed = sevens.consumed = whole.consumed;
    EXPECT_EQ(whole, bytewise);
    EXPECT_EQ(whole, sevens);
    return whole;
}

uint16_t error_of(Role role, std::string_view data, const ReaderOptions& options = {}) {
    Outcome o = read(role, data, options);
    EXPECT_TRUE(o.error) << "no protocol error";
    return o.error.value_or(0);
}

const std::string kHelloUnmasked = bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f});
const std::string kHelloMasked = bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
const uint8_t kRfcKey[4] = {0x37, 0xfa, 0x21, 0x3d};

WriterOptions fixed_key() {
    WriterOptions o;
    o.mask_key = [](uint8_t key[4]) { std::memcpy(key, kRfcKey, 4); };
    return o;
}

ReaderOptions deflate_reader(bool no_takeover = false, int bits = 15) {
    ReaderOptions o;
    o.deflate = DeflateSide(bits, no_takeover);
    return o;
}

WSMessage text(std::string s) { return WSMessage(WSMsgType::TEXT, std::move(s)); }
WSMessage binary(std::string s) { return WSMessage(WSMsgType::BINARY, std::move(s)); }

// A masked frame as a client sends it, built by hand so any header can be made.
std::string client_frame(uint8_t b0, std::string_view payload) {
    FrameWriter w(Role::client, fixed_key());
    std::string out;
    w.frame(out, b0 & 0x0f, b0 & 0x80, b0 & 0x40, payload);
    out[0] = static_cast<char>(b0);  // keeps RSV2/RSV3 too
    return out;
}

// ---------------------------------------------------------------------------------------------
// RFC 6455 section 5.7

TEST(WsCodec, RfcUnmaskedHello) {
    Outcome o = read(Role::client, kHelloUnmasked);
    EXPECT_EQ(o.messages, std::vector{text("Hello")});
    FrameWriter w(Role::server);
    std::string out;
    w.message(out, WSMsgType::TEXT, "Hello");
    EXPECT_EQ(out, kHelloUnmasked);
}

TEST(WsCodec, RfcMaskedHello) {
    Outcome o = read(Role::server, kHelloMasked);
    EXPECT_EQ(o.messages, std::vector{text("Hello")});
    FrameWriter w(Role::client, fixed_key());
    std::string out;
    w.message(out, WSMsgType::TEXT, "Hello");
    EXPECT_EQ(out, kHelloMasked);
}

TEST(WsCodec, RfcFragmentedHello) {
    std::string frames = bytes({0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f});
    EXPECT_EQ(read(Role::client, frames).messages, std::vector{text("Hello")});
    WriterOptions o;
    o.fragment_size = 3;
    FrameWriter w(Role::server, o);
    std::string out;
    w.message(out, WSMsgType::TEXT, "Hello");
    EXPECT_EQ(out, frames);
}

TEST(WsCodec, RfcPingAndMaskedPong) {
    std::string ping = bytes({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f});
    std::string pong = bytes({0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
    EXPECT_EQ(read(Role::client, ping).messages, std::vector{WSMessage(WSMsgType::PING, "Hello")});
    EXPECT_EQ(read(Role::server, pong).messages, std::vector{WSMessage(WSMsgType::PONG, "Hello")});
    std::string out;
    FrameWriter(Role::server).ping(out, "Hello");
    EXPECT_EQ(out, ping);
    out.clear();
    FrameWriter(Role::client, fixed_key()).pong(out, "Hello");
    EXPECT_EQ(out, pong);
}

TEST(WsCodec, RfcLengths256And64KiB) {
    std::string b256(256, 'x');
    std::string f256 = bytes({0x82, 0x7e, 0x01, 0x00}) + b256;
    EXPECT_EQ(read(Role::client, f256).messages, std::vector{binary(b256)});
    std::string b64k(65536, 'y');
    std::string f64k = bytes({0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0}) + b64k;
    EXPECT_EQ(read(Role::client, f64k).messages, std::vector{binary(b64k)});
    FrameWriter w(Role::server);
    std::string out;
    w.message(out, WSMsgType::BINARY, b256);
    EXPECT_EQ(out, f256);
    out.clear();
    w.message(out, WSMsgType::BINARY, b64k);
    EXPECT_EQ(out, f64k);
}

TEST(WsCodec, LengthEncodingBoundaries) {
    // 7-bit up to 125, 16-bit from 126 to 65535, 64-bit from 65536: each the shortest form.
    struct Case {
        size_t n;
        std::string header;
    };
    std::vector<Case> cases = {{0, bytes({0x82, 0x00})},
                               {125, bytes({0x82, 0x7d})},
                               {126, bytes({0x82, 0x7e, 0x00, 0x7e})},
                               {65535, bytes({0x82, 0x7e, 0xff, 0xff})},
                               {65536, bytes({0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0})}};
    for (const auto& c : cases) {
        std::string payload(c.n, 'z');
        std::string out;
        FrameWriter(Role::server).message(out, WSMsgType::BINARY, payload);
        EXPECT_EQ(out.substr(0, c.header.size()), c.header) << c.n;
        EXPECT_EQ(out.size(), c.header.size() + c.n);
        EXPECT_EQ(read(Role::client, out).messages, std::vector{binary(payload)}) << c.n;
        // The same with a mask: four more bytes after the header.
        out.clear();
        FrameWriter(Role::client, fixed_key()).message(out, WSMsgType::BINARY, payload);
        EXPECT_EQ(out.size(), c.header.size() + 4 + c.n);
        EXPECT_EQ(read(Role::server, out).messages, std::vector{binary(payload)}) << c.n;
    }
}

TEST(WsCodec, ControlFrameBetweenFragments) {
    std::string frames = bytes({0x01, 0x01, 'a', 0x89, 0x00, 0x80, 0x01, 'b'});
    EXPECT_EQ(read(Role::client, frames).messages, (std::vector{WSMessage(WSMsgType::PING, ""), text("ab")}));
}

TEST(WsCodec, EmptyMessagesAndEmptyFragments) {
    std::string frames = bytes({0x81, 0x00, 0x82, 0x00, 0x01, 0x00, 0x00, 0x00, 0x80, 0x00});
    EXPECT_EQ(read(Role::client, frames).messages, (std::vector{text(""), binary(""), text("")}));
}

TEST(WsCodec, CloseFrames) {
    Outcome o = read(Role::client, bytes({0x88, 0x05, 0x03, 0xe8, 'b', 'y', 'e'}));
    EXPECT_EQ(o.messages, std::vector{WSMessage(WSMsgType::CLOSE, "", 1000, "bye")});
    EXPECT_TRUE(o.closed);
    o = read(Role::client, bytes({0x88, 0x00}));
    EXPECT_EQ(o.messages, std::vector{WSMessage(WSMsgType::CLOSE, "", 1005, "")});
    // After a close the peer sends nothing: whatever follows is ignored, not parsed.
    o = read(Role::client, bytes({0x88, 0x00, 0xff, 0xff, 0x81}));
    EXPECT_TRUE(o.closed);
    EXPECT_EQ(o.messages.size(), 1u);
    for (int code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999}) {
        std::string f = bytes({0x88, 0x02, code >> 8, code & 0xff});
        EXPECT_EQ(read(Role::client, f).messages, std::vector{WSMessage(WSMsgType::CLOSE, "", uint16_t(code), "")})
            << code;
    }
    std::string out;
    FrameWriter(Role::server).close(out, 1001, "going");
    EXPECT_EQ(out, bytes({0x88, 0x07, 0x03, 0xe9, 'g', 'o', 'i', 'n', 'g'}));
    out.clear();
    FrameWriter(Role::server).close(out, 0);
    EXPECT_EQ(out, bytes({0x88, 0x00}));
}

// ---------------------------------------------------------------------------------------------
// A peer breaking the protocol

TEST(WsCodecBad, MaskingChecked) {
    EXPECT_EQ(error_of(Role::server, kHelloUnmasked), 1002);  // a client must mask
    EXPECT_EQ(error_of(Role::client, kHelloMasked), 1002);    // a server must not
    // Found from the first two bytes: nothing more is read.
    EXPECT_EQ(read(Role::server, kHelloUnmasked).consumed, 2u);
}

TEST(WsCodecBad, ReservedBitsWithoutExtension) {
    EXPECT_EQ(error_of(Role::server, client_frame(0xc1, "Hello")), 1002);  // RSV1, no deflate agreed
    EXPECT_EQ(error_of(Role::server, client_frame(0xa1, "Hello")), 1002);  // RSV2
    EXPECT_EQ(error_of(Role::server, client_frame(0x91, "Hello")), 1002);  // RSV3
    EXPECT_EQ(error_of(Role::server, client_frame(0xa1, "Hello"), deflate_reader()), 1002);
    // With deflate: RSV1 on a control frame or a continuation frame.
    EXPECT_EQ(error_of(Role::server, client_frame(0xc9, ""), deflate_reader()), 1002);
    EXPECT_EQ(error_of(Role::server, client_frame(0x01, "a") + client_frame(0xc0, "b"), deflate_reader()), 1002);
}

TEST(WsCodecBad, UnknownOpcodes) {
    for (int op : {3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf})
        EXPECT_EQ(error_of(Role::server, client_frame(static_cast<uint8_t>(0x80 | op), "")), 1002) << op;
}

TEST(WsCodecBad, ControlFrames) {
    // Over 125 bytes (a 16-bit length): refused from the first two bytes.
    std::string big = bytes({0x89, 0x7e, 0x00, 0x7e}) + std::string(126, 'p');
    EXPECT_EQ(error_of(Role::client, big), 1002);
    EXPECT_EQ(read(Role::client, big).consumed, 2u);
    EXPECT_EQ(error_of(Role::client, bytes({0x09, 0x00})), 1002);  // a fragmented ping
    EXPECT_EQ(error_of(Role::client, bytes({0x08, 0x00})), 1002);  // a fragmented close
    EXPECT_EQ(error_of(Role::client, bytes({0x0a, 0x00})), 1002);  // a fragmented pong
    std::string out;
    EXPECT_THROW(FrameWriter(Role::server).ping(out, std::string(126, 'p')), std::invalid_argument);
    FrameWriter(Role::server).ping(out, std::string(125, 'p'));
    EXPECT_EQ(read(Role::client, out).messages, std::vector{WSMessage(WSMsgType::PING, std::string(125, 'p'))});
}

TEST(WsCodecBad, Fragmentation) {
    EXPECT_EQ(error_of(Role::client, bytes({0x80, 0x01, 'a'})), 1002);  // continuation without a start
    EXPECT_EQ(error_of(Role::client, bytes({0x00, 0x01, 'a'})), 1002);
    // A new message while one is being sent in fragments.
    EXPECT_EQ(error_of(Role::client, bytes({0x01, 0x01, 'a', 0x81, 0x01, 'b'})), 1002);
    EXPECT_EQ(error_of(Role::client, bytes({0x02, 0x01, 'a', 0x02, 0x01, 'b'})), 1002);
    // The message before is delivered; the second continuation after it is not.
    Outcome o = read(Role::client, bytes({0x01, 0x01, 'a', 0x80, 0x01, 'b', 0x80, 0x00}));
    EXPECT_EQ(o.messages, std::vector{text("ab")});
    EXPECT_EQ(o.error, 1002);
}

TEST(WsCodecBad, InvalidUtf8) {
    EXPECT_EQ(error_of(Role::client, bytes({0x81, 0x02, 0xc3, 0x28})), 1007);
    // A code point split between fragments is fine...
    EXPECT_EQ(read(Role::client, bytes({0x01, 0x01, 0xe2, 0x00, 0x01, 0x82, 0x80, 0x01, 0xac})).messages,
              std::vector{text("\xe2\x82\xac")});
    // ...a bad one split between them is not,
    EXPECT_EQ(error_of(Role::client, bytes({0x01, 0x01, 0xe2, 0x80, 0x01, 0x28})), 1007);
    // nor a message that ends inside one.
    EXPECT_EQ(error_of(Role::client, bytes({0x81, 0x01, 0xe2})), 1007);
    EXPECT_EQ(error_of(Role::client, bytes({0x01, 0x01, 0xe2, 0x80, 0x00})), 1007);
    // Found at the bad byte, before the message's last fragment arrives.
    Outcome o = read(Role::client, bytes({0x01, 0x04, 'o', 'k', 0xff, 'x', 0x80, 0x01, 'y'}));
    EXPECT_EQ(o.error, 1007);
    EXPECT_EQ(o.consumed, 6u);
    EXPECT_EQ(read_with(Role::client, bytes({0x01, 0x04, 'o', 'k', 0xff, 'x', 0x80, 0x01, 'y'}), {}, 1).consumed, 5u);
    // Binary is not checked.
    EXPECT_EQ(read(Role::client, bytes({0x82, 0x02, 0xc3, 0x28})).messages, std::vector{binary("\xc3\x28")});
    // A close reason.
    EXPECT_EQ(error_of(Role::client, bytes({0x88, 0x04, 0x03, 0xe8, 0xff, 0xfe})), 1007);
    EXPECT_EQ(error_of(Role::client, bytes({0x88, 0x03, 0x03, 0xe8, 0xc3})), 1007);
    // The writer refuses to send what the peer would close for.
    std::string out;
    EXPECT_THROW(FrameWriter(Role::server).message(out, WSMsgType::TEXT, "\xc3\x28"), std::invalid_argument);
    EXPECT_THROW(FrameWriter(Role::server).close(out, 1000, "\xff"), std::invalid_argument);
    EXPECT_TRUE(out.empty());
}

TEST(WsCodecBad, MessageTooBigFromTheHeader) {
    ReaderOptions o;
    o.max_msg_size = 10;
    // The header says 256: refused after its 4 bytes, none of the payload read or kept.
    std::string big = bytes({0x82, 0x7e, 0x01, 0x00}) + std::string(256, 'x');
    Outcome r = read(Role::client, big, o);
    EXPECT_EQ(r.error, 1009);
    EXPECT_EQ(r.consumed, 4u);
    // Fragments count together: the second header already makes 12.
    std::string frags = bytes({0x02, 0x06}) + "abcdef" + bytes({0x80, 0x06}) + "ghijkl";
    r = read(Role::client, frags, o);
    EXPECT_EQ(r.error, 1009);
    EXPECT_EQ(r.consumed, 10u);
    // Exactly the limit is fine; control frames do not count.
    std::string exact = bytes({0x02, 0x05}) + "abcde" + bytes({0x89, 0x00, 0x80, 0x05}) + "fghij";
    EXPECT_EQ(read(Role::client, exact, o).messages,
              (std::vector{WSMessage(WSMsgType::PING, ""), binary("abcdefghij")}));
    // A 64-bit length of 2^62: refused, never allocated.
    std::string huge = bytes({0x82, 0x7f, 0x40, 0, 0, 0, 0, 0, 0, 0});
    EXPECT_EQ(error_of(Role::client, huge), 1009);
}

TEST(WsCodecBad, LengthEncodings) {
    EXPECT_EQ(error_of(Role::client, bytes({0x82, 0x7e, 0x00, 0x05}) + "abcde"), 1002);  // 5 in 16 bits
    EXPECT_EQ(error_of(Role::client, bytes({0x82, 0x7e, 0x00, 0x7d}) + std::string(125, 'a')), 1002);
    EXPECT_EQ(error_of(Role::client, bytes({0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0, 5}) + "abcde"), 1002);
    EXPECT_EQ(error_of(Role::client, bytes({0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0xff, 0xff})), 1002);  // 65535 in 64
    EXPECT_EQ(error_of(Role::client, bytes({0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0})), 1002);     // high bit
    ReaderOptions unlimited;
    unlimited.max_msg_size = 0;
    EXPECT_EQ(error_of(Role::client, bytes({0x82, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), unlimited),
              1002);
}

TEST(WsCodecBad, CloseFramePayloads) {
    EXPECT_EQ(error_of(Role::client, bytes({0x88, 0x01, 0x03})), 1002);  // a 1-byte payload
    for (int code : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
        EXPECT_EQ(error_of(Role::client, bytes({0x88, 0x02, code >> 8, code & 0xff})), 1002) << code;
        EXPECT_FALSE(aio::http::ws_close_code_allowed(static_cast<uint16_t>(code))) << code;
        std::string out;
        if (code) {
            EXPECT_THROW(FrameWriter(Role::server).close(out, static_cast<uint16_t>(code)), std::invalid_argument);
        }
    }
    std::string out;
    EXPECT_THROW(FrameWriter(Role::server).close(out, 1000, std::string(124, 'r')), std::invalid_argument);
    EXPECT_THROW(FrameWriter(Role::server).close(out, 0, "no code"), std::invalid_argument);
    FrameWriter(Role::server).close(out, 4999, std::string(123, 'r'));
    EXPECT_EQ(read(Role::client, out).messages,
              std::vector{WSMessage(WSMsgType::CLOSE, "", 4999, std::string(123, 'r'))});
    EXPECT_EQ(static_cast<uint16_t>(WSCloseCode::MESSAGE_TOO_BIG), 1009);
}

TEST(WsCodecBad, TakeWithoutAMessageAndFeedWhileOneWaits) {
    FrameReader r(Role::client);
    EXPECT_THROW(r.take(), std::logic_error);
    std::string two = kHelloUnmasked + kHelloUnmasked;
    EXPECT_EQ(r.feed(two), kHelloUnmasked.size());
    EXPECT_EQ(r.feed(std::string_view(two).substr(kHelloUnmasked.size())), 0u);  // take() first
    EXPECT_EQ(r.take(), text("Hello"));
    EXPECT_EQ(r.feed(std::string_view(two).substr(kHelloUnmasked.size())), kHelloUnmasked.size());
    EXPECT_EQ(r.take(), text("Hello"));
}

// ---------------------------------------------------------------------------------------------
// permessage-deflate: RFC 7692 section 7.2.3

TEST(WsDeflate, RfcCompressedHello) {
    std::string hello = bytes({0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00});
    EXPECT_EQ(read(Role::client, hello, deflate_reader()).messages, std::vector{text("Hello")});
    // Fragmented: RSV1 on the first frame only.
    std::string frags = bytes({0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00});
    EXPECT_EQ(read(Role::client, frags, deflate_reader()).messages, std::vector{text("Hello")});
    WriterOptions o;
    o.deflate = DeflateSide(15, false);
    std::string out;
    FrameWriter(Role::server, o).message(out, WSMsgType::TEXT, "Hello");
    EXPECT_EQ(out, hello);
}

// Found by fuzz_ws_frame_reader: a compressed text message whose inflated bytes stop being UTF-8
// before max_msg_size and cross it within one piece of input. The first error in the message's
// bytes wins (1007), whether the limit is crossed in one piece of input or in several.
TEST(WsDeflate, TextThatGoesBadBeforeTheLimitIs1007HoweverTheBytesAreSplit) {
    ReaderOptions o;
    o.max_msg_size = 64;
    o.deflate = DeflateSide(11, true);
    // 0x75: a length of 117, of which 17 bytes come.
    const std::string data = bytes({0xc1, 0x00, 0xc1, 0x75}) + "se_derivation_" + bytes({0xff, 0x00, 0x23});
    Outcome out = read(Role::client, data, o);
    EXPECT_EQ(out.messages, std::vector{text("")});
    EXPECT_EQ(out.error, std::optional<uint16_t>(1007));
}

TEST(WsDeflate, RfcSharedWindow) {
    std::string first = bytes({0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00});
    std::string second = bytes({0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00});
    EXPECT_EQ(read(Role::client, first + second, deflate_reader()).messages,
              (std::vector{text("Hello"), text("Hello")}));
    WriterOptions o;
    o.deflate = DeflateSide(15, false);
    FrameWriter w(Role::server, o);
    std::string out;
    w.message(out, WSMsgType::TEXT, "Hello");
    w.message(out, WSMsgType::TEXT, "Hello");
    EXPECT_EQ(out, first + second);
    // Without context takeover each message stands alone.
    o.deflate = DeflateSide(15, true);
    FrameWriter fresh(Role::server, o);
    out.clear();
    fresh.message(out, WSMsgType::TEXT, "Hello");
    fresh.message(out, WSMsgType::TEXT, "Hello");
    EXPECT_EQ(out, first + first);
    EXPECT_EQ(read(Role::client, first + first, deflate_reader(true)).messages,
              (std::vector{text("Hello"), text("Hello")}));
    // A reader that resets between messages cannot read the shared-window form.
    EXPECT_EQ(read(Role::client, first + second, deflate_reader(true)).error, 1007);
}

TEST(WsDeflate, RfcOtherBlockForms) {
    // A stored (uncompressed) block; a block with BFINAL set; two blocks in one message.
    std::string stored = bytes({0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00});
    std::string bfinal = bytes({0xc1, 0x08, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00});
    std::string two = bytes({0xc1, 0x0d, 0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00});
    for (const auto& f : {stored, bfinal, two})
        EXPECT_EQ(read(Role::client, f, deflate_reader()).messages, std::vector{text("Hello")});
    // After a final block, the next message may still use the window: it is kept.
    std::string second = bytes({0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00});
    EXPECT_EQ(read(Role::client, bfinal + second, deflate_reader()).messages,
              (std::vector{text("Hello"), text("Hello")}));
    // An uncompressed message between compressed ones (RSV1 clear) is read as it is.
    EXPECT_EQ(read(Role::client, bfinal + kHelloUnmasked + second, deflate_reader()).messages,
              (std::vector{text("Hello"), text("Hello"), text("Hello")}));
}

TEST(WsDeflate, EmptyMessage) {
    WriterOptions o;
    o.deflate = DeflateSide(15, false);
    FrameWriter w(Role::server, o);
    std::string out;
    w.message(out, WSMsgType::BINARY, "");
    EXPECT_EQ(out, bytes({0xc2, 0x01, 0x00}));  // RFC 7692 section 7.2.3.6's single 0x00
    EXPECT_EQ(read(Role::client, out, deflate_reader()).messages, std::vector{binary("")});
    EXPECT_EQ(read(Role::client, bytes({0xc2, 0x00}), deflate_reader()).messages, std::vector{binary("")});
}

TEST(WsDeflate, BadData) {
    EXPECT_EQ(error_of(Role::client, bytes({0xc1, 0x02, 0xff, 0xff}), deflate_reader()), 1007);
    // A message that stops inside a deflate block (half of RFC 7692's "Hello").
    EXPECT_EQ(error_of(Role::client, bytes({0xc1, 0x03, 0xf2, 0x48, 0xcd}), deflate_reader()), 1007);
    // Compressed text that inflates to invalid UTF-8.
    WriterOptions o;
    o.deflate = DeflateSide(15, false);
    std::string out;
    FrameWriter w(Role::server, o);
    w.message(out, WSMsgType::BINARY, "ok \xff bad");
    out[0] = static_cast<char>(0xc1);  // now claims to be text
    EXPECT_EQ(error_of(Role::client, out, deflate_reader()), 1007);
}

TEST(WsDeflate, ZipBombClosedWith1009) {
    // 16 MiB of zeros deflate to about 16 KiB; a 1 MiB limit stops it after about 1 MiB.
    std::string zeros(16 << 20, '\0');
    WriterOptions wo;
    wo.deflate = DeflateSide(15, false);
    std::string bomb;
    FrameWriter(Role::client, wo).message(bomb, WSMsgType::BINARY, zeros);
    EXPECT_LT(bomb.size(), 64u * 1024);
    ReaderOptions ro = deflate_reader();
    ro.max_msg_size = 1 << 20;
    FrameReader r(Role::server, ro);
    r.feed(bomb);
    ASSERT_EQ(r.state(), FrameReader::State::failed);
    EXPECT_EQ(r.error().code, 1009);
    // The same with fragments, and byte by byte.
    wo.fragment_size = 1000;
    std::string frags;
    FrameWriter(Role::client, wo).message(frags, WSMsgType::BINARY, std::string(2 << 20, 'a'));
    EXPECT_EQ(error_of(Role::server, frags, ro), 1009);
    // One byte under the limit and exactly at it pass.
    for (size_t n : {size_t{1 << 20} - 1, size_t{1 << 20}}) {
        std::string ok;
        FrameWriter(Role::client, wo).message(ok, WSMsgType::BINARY, std::string(n, 'b'));
        Outcome got = read_with(Role::server, ok, ro, 0);
        ASSERT_EQ(got.messages.size(), 1u);
        EXPECT_EQ(got.messages[0].data.size(), n);
    }
}

TEST(WsDeflate, WindowBits) {
    // A small window on both sides; 8 bits (which zlib cannot deflate raw) sends uncompressed.
    for (int bits : {8, 9, 10, 12, 15}) {
        WriterOptions wo;
        wo.deflate = DeflateSide(bits, false);
        FrameWriter w(Role::server, wo);
        std::string out, msg;
        for (int i = 0; i < 2000; ++i)
            msg += "window " + std::to_string(i % 97) + " ";
        w.message(out, WSMsgType::TEXT, msg);
        w.message(out, WSMsgType::TEXT, msg);
        EXPECT_EQ(bits >= 9, (static_cast<uint8_t>(out[0]) & 0x40) != 0) << bits;
        EXPECT_EQ(read(Role::client, out, deflate_reader(false, bits)).messages, (std::vector{text(msg), text(msg)}))
            << bits;
    }
}

// ---------------------------------------------------------------------------------------------
// The handshake

TEST(WsHandshake, AcceptKey) {
    EXPECT_EQ(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    EXPECT_TRUE(key_valid("dGhlIHNhbXBsZSBub25jZQ=="));
    EXPECT_FALSE(key_valid("dGhlIHNhbXBsZSBub25jZQ="));
    EXPECT_FALSE(key_valid("dGhlIHNhbXBsZSBub25jZQ=A"));
    EXPECT_FALSE(key_valid("dGhlIHNhbXBsZSBub25jZ*=="));
    EXPECT_FALSE(key_valid(""));
    std::string a = make_key(), b = make_key();
    EXPECT_TRUE(key_valid(a));
    EXPECT_NE(a, b);
}

TEST(WsHandshake, ParseExtensions) {
    auto e = parse_extensions(" permessage-deflate ; client_max_window_bits;server_max_window_bits=\"10\" , , foo");
    ASSERT_TRUE(e);
    ASSERT_EQ(e->size(), 2u);
    EXPECT_EQ((*e)[0].name, "permessage-deflate");
    ASSERT_EQ((*e)[0].params.size(), 2u);
    EXPECT_EQ((*e)[0].params[0].name, "client_max_window_bits");
    EXPECT_FALSE((*e)[0].params[0].value);
    EXPECT_EQ((*e)[0].params[1].value, "10");
    EXPECT_EQ((*e)[1].name, "foo");
    EXPECT_TRUE(parse_extensions("")->empty());
    for (const char* bad :
         {"a;", "a; =1", "a; b=", "a; b=\"x y\"", "a; b=\"unterminated", "a b", ";a", "a; b=1 2", "a,; b"})
        EXPECT_FALSE(parse_extensions(bad)) << bad;
}

TEST(WsHandshake, NegotiateDeflate) {
    auto n = negotiate_deflate("permessage-deflate");
    ASSERT_TRUE(n);
    EXPECT_EQ(n->second, "permessage-deflate");
    EXPECT_EQ(n->first, DeflateParams());

    n = negotiate_deflate("permessage-deflate; client_max_window_bits");
    ASSERT_TRUE(n);
    EXPECT_EQ(n->second, "permessage-deflate");
    DeflateConfig small;
    small.client_max_window_bits = 10;
    small.server_max_window_bits = 11;
    n = negotiate_deflate("permessage-deflate; client_max_window_bits", small);
    ASSERT_TRUE(n);
    EXPECT_EQ(n->second, "permessage-deflate; server_max_window_bits=11; client_max_window_bits=10");
    EXPECT_EQ(n->first.client_max_window_bits, 10);
    EXPECT_EQ(n->first.server_max_window_bits, 11);
    // A client that did not offer client_max_window_bits keeps its 15.
    n = negotiate_deflate("permessage-deflate", small);
    ASSERT_TRUE(n);
    EXPECT_EQ(n->first.client_max_window_bits, 15);

    n = negotiate_deflate(
        "permessage-deflate; server_max_window_bits=10; server_no_context_takeover; "
        "client_no_context_takeover; client_max_window_bits=\"12\"");
    ASSERT_TRUE(n);
    EXPECT_EQ(n->second,
              "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; "
              "client_max_window_bits=12");
    EXPECT_TRUE(n->first.server_no_context_takeover);
    EXPECT_TRUE(n->first.client_no_context_takeover);
    EXPECT_EQ(n->first.server_max_window_bits, 10);
    EXPECT_EQ(n->first.client_max_window_bits, 12);
    EXPECT_EQ(outbound_side(n->first, Role::server).window_bits, 10);
    EXPECT_EQ(inbound_side(n->first, Role::server).window_bits, 12);
    EXPECT_EQ(outbound_side(n->first, Role::client).window_bits, 12);

    // A server that asks for no context takeover.
    DeflateConfig forget;
    forget.server_no_context_takeover = true;
    n = negotiate_deflate("permessage-deflate", forget);
    ASSERT_TRUE(n);
    EXPECT_EQ(n->second, "permessage-deflate; server_no_context_takeover");

    // Bad offers are declined; the next acceptable one is taken.
    for (const char* bad :
         {"permessage-deflate; server_max_window_bits=16", "permessage-deflate; server_max_window_bits=7",
          "permessage-deflate; server_max_window_bits=08", "permessage-deflate; server_max_window_bits",
          "permessage-deflate; client_max_window_bits=x", "permessage-deflate; server_no_context_takeover=1",
          "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
          "permessage-deflate; client_max_window_bits; client_max_window_bits=9", "permessage-deflate; foo",
          "x-webkit-deflate-frame", "permessage-deflate; a=\"b", ""}) {
        EXPECT_FALSE(negotiate_deflate(bad)) << bad;
    }
    n = negotiate_deflate(
        "x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=16, permessage-deflate; "
        "server_max_window_bits=9");
    ASSERT_TRUE(n);
    EXPECT_EQ(n->second, "permessage-deflate; server_max_window_bits=9");
}

TEST(WsHandshake, ClientOfferAndAnswer) {
    DeflateConfig c;
    EXPECT_EQ(deflate_offer(c), "permessage-deflate; client_max_window_bits");
    EXPECT_FALSE(accept_deflate_response("", c));
    auto d = accept_deflate_response("permessage-deflate", c);
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, DeflateParams());
    d = accept_deflate_response("permessage-deflate; client_max_window_bits=9; server_no_context_takeover", c);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->client_max_window_bits, 9);
    EXPECT_TRUE(d->server_no_context_takeover);
    // What the server may not answer.
    for (const char* bad :
         {"foo", "permessage-deflate, permessage-deflate", "permessage-deflate; client_max_window_bits",
          "permessage-deflate; foo=1", "permessage-deflate; server_max_window_bits=16", "permessage-deflate; ;"})
        EXPECT_THROW(accept_deflate_response(bad, c), std::invalid_argument) << bad;

    DeflateConfig asks;
    asks.server_no_context_takeover = true;
    asks.client_no_context_takeover = true;
    asks.server_max_window_bits = 10;
    asks.client_max_window_bits = 12;
    EXPECT_EQ(deflate_offer(asks),
              "permessage-deflate; client_max_window_bits=12; server_max_window_bits=10; server_no_context_takeover; "
              "client_no_context_takeover");
    // The server's own negotiation accepts what the client offers, and the client its answer.
    auto n = negotiate_deflate(deflate_offer(asks));
    ASSERT_TRUE(n);
    d = accept_deflate_response(n->second, asks);
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, n->first);
    EXPECT_THROW(accept_deflate_response("permessage-deflate; server_max_window_bits=10", asks),
                 std::invalid_argument);  // server_no_context_takeover not accepted
    EXPECT_THROW(accept_deflate_response("permessage-deflate; server_no_context_takeover", asks),
                 std::invalid_argument);  // server_max_window_bits not answered
    EXPECT_THROW(
        accept_deflate_response("permessage-deflate; server_no_context_takeover; server_max_window_bits=11", asks),
        std::invalid_argument);  // larger than offered
    EXPECT_THROW(
        accept_deflate_response(
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=13",
            asks),
        std::invalid_argument);
}

TEST(WsHandshake, Subprotocols) {
    std::vector<std::string> supported = {"superchat", "chat"};
    EXPECT_EQ(choose_subprotocol("chat, superchat", supported), "chat");
    EXPECT_EQ(choose_subprotocol(" , superchat ,chat", supported), "superchat");
    EXPECT_FALSE(choose_subprotocol("v1.foo", supported));
    EXPECT_FALSE(choose_subprotocol("", supported));
    EXPECT_FALSE(choose_subprotocol("chat", {}));
}

// ---------------------------------------------------------------------------------------------
// UTF-8

TEST(WsUtf8, Validator) {
    for (const char* good : {"", "plain", "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf", "\xee\x80\x80",
                             "\xef\xbf\xbf", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "\xce\xba\xe1\xbd\xb9\xcf\x83"})
        EXPECT_TRUE(valid_utf8(good)) << good;
    for (const char* bad : {"\x80", "\xbf", "\xc0\x80", "\xc1\xbf", "\xc2", "\xc2\x41", "\xe0\x80\x80", "\xe0\x9f\xbf",
                            "\xed\xa0\x80", "\xed\xbf\xbf", "\xf0\x80\x80\x80", "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80",
                            "\xf5\x80\x80\x80", "\xfe", "\xff", "\xe2\x82", "abcdefgh\xff"})
        EXPECT_FALSE(valid_utf8(bad)) << bad;
    // Split anywhere, the answer is the same.
    std::string s = "a\xf0\x9d\x84\x9e b \xe2\x82\xac c \xc3\xa9 long ascii run here";
    for (size_t cut = 0; cut <= s.size(); ++cut) {
        Utf8Validator v;
        EXPECT_TRUE(v.feed(s.data(), cut));
        EXPECT_TRUE(v.feed(s.data() + cut, s.size() - cut));
        EXPECT_TRUE(v.complete());
    }
}

// ---------------------------------------------------------------------------------------------
// Round trip of random messages

std::string random_text(std::mt19937& rng, size_t n) {
    static const char* const pieces[] = {"a",     "Z",   " ", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                         "text ", "\x7f"};
    std::string s;
    while (s.size() < n)
        s += pieces[rng() % 8];
    return s;
}

TEST(WsCodec, RoundTripRandom) {
    std::mt19937 rng(20);
    for (int round = 0; round < 150; ++round) {
        Role writer_role = rng() % 2 ? Role::client : Role::server;
        Role reader_role = writer_role == Role::client ? Role::server : Role::client;
        WriterOptions wo;
        ReaderOptions ro;
        ro.max_msg_size = 0;
        if (rng() % 2) {
            DeflateSide side(8 + static_cast<int>(rng() % 8), rng() % 2 == 0);
            wo.deflate = side;
            ro.deflate = side;
        }
        wo.fragment_size = rng() % 3 == 0 ? 0 : 1 + rng() % 3000;
        FrameWriter w(writer_role, wo);
        std::string wire;
        std::vector<WSMessage> sent;
        int count = 1 + static_cast<int>(rng() % 12);
        for (int i = 0; i < count; ++i) {
            size_t n = rng() % 10 == 0 ? rng() % 100000 : rng() % 300;
            switch (rng() % 5) {
                case 0: {
                    std::string p(rng() % 126, '\0');
                    for (auto& c : p)
                        c = static_cast<char>(rng());
                    w.ping(wire, p);
                    sent.emplace_back(WSMsgType::PING, p);
                    break;
                }
                case 1:
                case 2: {
                    std::string t = random_text(rng, n);
                    w.message(wire, WSMsgType::TEXT, t, rng() % 4 != 0);
                    sent.push_back(text(t));
                    break;
                }
                default: {
                    std::string b(n, '\0');
                    // Half random (incompressible), half repetitive.
                    for (size_t k = 0; k < n; ++k)
                        b[k] = static_cast<char>(k % 2 ? rng() : k % 7);
                    w.message(wire, WSMsgType::BINARY, b, rng() % 4 != 0);
                    sent.push_back(binary(b));
                    break;
                }
            }
        }
        w.close(wire, 1000, "done");
        sent.emplace_back(WSMsgType::CLOSE, "", 1000, "done");
        size_t step = rng() % 2 ? 0 : 1 + rng() % 5000;
        Outcome got = read_with(reader_role, wire, ro, step);
        EXPECT_FALSE(got.error) << "round " << round << ": " << got.error.value_or(0);
        EXPECT_TRUE(got.closed) << "round " << round;
        ASSERT_EQ(got.messages.size(), sent.size()) << "round " << round;
        for (size_t i = 0; i < sent.size(); ++i)
            EXPECT_EQ(got.messages[i], sent[i]) << "round " << round << " #" << i;
    }
}

// ---------------------------------------------------------------------------------------------
// Python's websockets library as the peer: its framing code, not ours, on the other side.

std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

bool have_websockets() {
    std::string cmd = std::string(AIO_PYTHON3) + " -c 'import websockets.frames' >/dev/null 2>&1";
    return std::system(cmd.c_str()) == 0;
}

// Runs ws_frames_peer.py MODE with `input` on stdin; its stdout.
std::string run_peer(const std::string& args, const std::string& input) {
    char in_path[] = "/tmp/aio_ws_peer_in.XXXXXX";
    char out_path[] = "/tmp/aio_ws_peer_out.XXXXXX";
    int in_fd = mkstemp(in_path), out_fd = mkstemp(out_path);
    EXPECT_GE(in_fd, 0);
    EXPECT_GE(out_fd, 0);
    ::close(in_fd);
    ::close(out_fd);
    std::ofstream(in_path, std::ios::binary) << input;
    std::string cmd = std::string(AIO_PYTHON3) + " " + AIO_HTTP_PEERS_DIR + "/ws_frames_peer.py " + args + " <" +
                      in_path + " >" + out_path;
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::string out = slurp(out_path);
    std::remove(in_path);
    std::remove(out_path);
    return out;
}

// The messages ws_frames_peer.py sends (it makes the same list).
std::vector<WSMessage> peer_messages() {
    std::vector<WSMessage> m;
    m.push_back(text("Hello"));
    m.push_back(text(""));
    std::string t;
    for (int i = 0; i < 300; ++i)
        t += "caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e ";
    m.push_back(text(t));
    std::string b;
    for (int i = 0; i < 70000; ++i)
        b.push_back(static_cast<char>((i * 7) % 251));
    m.push_back(binary(b));
    m.emplace_back(WSMsgType::PING, "are you there");
    m.push_back(text(t));  // fragmented by the peer
    m.emplace_back(WSMsgType::CLOSE, "", 1001, "bye \xc3\xa9");
    return m;
}

TEST(WsPeer, PythonWebsocketsFramesDecodedHere) {
    if (!have_websockets()) GTEST_SKIP() << "python3-websockets is not installed";
    for (const char* mode : {"plain", "deflate", "deflate-no-takeover"}) {
        // The peer is a client: it masks.
        std::string wire = run_peer(std::string("encode ") + mode, "");
        ReaderOptions ro;
        if (std::string(mode) != "plain") ro.deflate = DeflateSide(15, std::string(mode) == "deflate-no-takeover");
        Outcome got = read(Role::server, wire, ro);
        EXPECT_FALSE(got.error) << mode;
        EXPECT_EQ(got.messages, peer_messages()) << mode;
    }
}

TEST(WsPeer, FramesFromHereDecodedByPythonWebsockets) {
    if (!have_websockets()) GTEST_SKIP() << "python3-websockets is not installed";
    for (const char* mode : {"plain", "deflate", "deflate-no-takeover"}) {
        WriterOptions wo;
        if (std::string(mode) != "plain") wo.deflate = DeflateSide(15, std::string(mode) == "deflate-no-takeover");
        FrameWriter w(Role::server, wo);
        std::string wire;
        auto msgs = peer_messages();
        for (size_t i = 0; i < msgs.size(); ++i) {
            const auto& m = msgs[i];
            if (m.type == WSMsgType::PING) {
                w.ping(wire, m.data);
            } else if (m.type == WSMsgType::CLOSE) {
                w.close(wire, m.close_code, m.extra);
            } else if (i == 5) {
                WriterOptions frag = wo;
                frag.fragment_size = 1000;  // a writer of its own: its own deflate context too
                FrameWriter(Role::server, frag).message(wire, m.type, m.data, false);
            } else {
                w.message(wire, m.type, m.data);
            }
        }
        // The peer prints one line per message: its type and the payload in hex, checked there
        // against its own list; "ok" when all match.
        std::string out = run_peer(std::string("decode ") + mode, wire);
        EXPECT_EQ(out, "ok\n") << mode;
    }
}

}  // namespace
