// The WebSocket protocol without I/O (RFC 6455, and RFC 7692's permessage-deflate): the frame
// reader and writer the server and the client both drive, and the handshake's pure functions.
// Private to src/http (the tests and the fuzz target include it too).
//
// Nothing here reads a socket: the reader is fed bytes and says what they make, the writer
// appends frames to a string. A bad peer gets a ProtocolError naming the close code to send
// (1002, 1007 or 1009); nothing it sends makes the reader buffer more than max_msg_size (plus
// one frame header and one inflate step), crash or throw.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "aio/http/websocket.hpp"

struct z_stream_s;  // zlib's z_stream: zlib.h stays out of this header

namespace aio::http::detail::ws {

/// Which end of the connection this side is: a client masks what it sends and must receive
/// unmasked frames; a server the other way round (RFC 6455 section 5.1).
enum class Role : uint8_t { client, server };

// The opcodes (RFC 6455 section 5.2).
inline constexpr uint8_t op_continuation = 0x0;
inline constexpr uint8_t op_text = 0x1;
inline constexpr uint8_t op_binary = 0x2;
inline constexpr uint8_t op_close = 0x8;
inline constexpr uint8_t op_ping = 0x9;
inline constexpr uint8_t op_pong = 0xa;

/// The largest control frame payload, and so of a ping's data (RFC 6455 section 5.5).
inline constexpr size_t max_control_payload = 125;
/// aiohttp's default max_msg_size (4 MiB).
inline constexpr size_t default_max_msg_size = 4 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// UTF-8

/// Validates UTF-8 given in pieces: a code point may be split between pieces (between
/// fragments of a text message). Rejects overlong forms, surrogates and code points past
/// U+10FFFF at the first byte that makes them so, as RFC 3629 defines UTF-8.
class Utf8Validator {
public:
    /// False once a byte cannot continue valid UTF-8 (and from then on).
    bool feed(const char* p, size_t n) noexcept;
    /// True when the bytes fed so far end on a code point boundary.
    bool complete() const noexcept { return ok_ && need_ == 0; }
    void reset() noexcept { *this = Utf8Validator(); }

private:
    uint8_t need_ = 0;   // continuation bytes still expected
    uint8_t lo_ = 0x80;  // the range of the next continuation byte
    uint8_t hi_ = 0xbf;
    bool ok_ = true;
};

bool valid_utf8(std::string_view s) noexcept;

// ---------------------------------------------------------------------------------------------
// The opening handshake's pure functions

/// Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + RFC 6455's GUID)).
std::string accept_key(std::string_view key);
/// Whether a Sec-WebSocket-Key is 16 bytes in base64 (24 characters, "==" at the end).
bool key_valid(std::string_view key) noexcept;
/// A fresh Sec-WebSocket-Key (16 random bytes from OpenSSL).
std::string make_key();

/// One element of a Sec-WebSocket-Extensions list: `name; p1; p2=v`.
struct ExtensionParam {
    std::string name;
    std::optional<std::string> value;  // unquoted
};
struct Extension {
    std::string name;
    std::vector<ExtensionParam> params;
};
/// Parses the Sec-WebSocket-Extensions grammar (RFC 6455 section 9.1; several header lines are
/// joined with ", " first). nullopt when it does not follow it.
std::optional<std::vector<Extension>> parse_extensions(std::string_view header);

/// What the two sides agreed for permessage-deflate (RFC 7692 section 7.1).
struct DeflateParams {
    bool server_no_context_takeover = false;
    bool client_no_context_takeover = false;
    int server_max_window_bits = 15;
    int client_max_window_bits = 15;
    DeflateParams() {}
    bool operator==(const DeflateParams&) const = default;
};

/// What this side asks for. On a server: the most it accepts (a client's offer may lower the
/// windows and add no_context_takeover); on a client: what it offers.
struct DeflateConfig {
    bool server_no_context_takeover = false;
    bool client_no_context_takeover = false;
    int server_max_window_bits = 15;  // 8-15
    int client_max_window_bits = 15;  // 8-15
    DeflateConfig() {}
};

/// Server: the first permessage-deflate offer it can accept in the client's
/// Sec-WebSocket-Extensions, what is agreed and the response header's value. nullopt: none
/// acceptable (bad parameters, a malformed header), so no compression.
std::optional<std::pair<DeflateParams, std::string>> negotiate_deflate(std::string_view offer_header,
                                                                       const DeflateConfig& config = {});
/// Client: the Sec-WebSocket-Extensions value offering permessage-deflate as config says.
std::string deflate_offer(const DeflateConfig& config = {});
/// Client: the server's Sec-WebSocket-Extensions answer to deflate_offer(config). nullopt: the
/// server declined (an empty answer). Throws std::invalid_argument when the answer is one the
/// client must fail the connection for (an extension not offered, a bad or duplicate
/// parameter, a window larger than offered).
std::optional<DeflateParams> accept_deflate_response(std::string_view response_header, const DeflateConfig& config);

/// Server: the subprotocol to answer with: the first one in the client's Sec-WebSocket-Protocol
/// list that the server supports, as aiohttp chooses. nullopt: none in common.
std::optional<std::string> choose_subprotocol(std::string_view offer_header, const std::vector<std::string>& supported);

// ---------------------------------------------------------------------------------------------
// Compression: one zlib raw deflate stream per direction

/// One direction of permessage-deflate, as agreed: the window its sender compresses with, and
/// whether the sender starts each message afresh.
struct DeflateSide {
    int window_bits = 15;
    bool no_context_takeover = false;
    DeflateSide() {}
    DeflateSide(int bits, bool no_takeover) : window_bits(bits), no_context_takeover(no_takeover) {}
};
/// What this side compresses with / what its peer compresses with.
DeflateSide outbound_side(const DeflateParams& params, Role role) noexcept;
DeflateSide inbound_side(const DeflateParams& params, Role role) noexcept;

/// Decompresses messages. zlib's state is allocated at the first compressed message: a
/// connection that never receives one pays nothing for it.
class Inflater {
public:
    explicit Inflater(DeflateSide side);
    ~Inflater();
    Inflater(const Inflater&) = delete;
    Inflater& operator=(const Inflater&) = delete;

    enum class Result { ok, too_big, bad_data, no_memory };
    /// Inflates part of a message's compressed payload onto out; never lets out grow past
    /// limit (0: no limit): too_big instead, with out holding at most limit bytes.
    Result feed(const char* in, size_t n, std::string& out, size_t limit);
    /// The message's compressed payload is complete: inflates RFC 7692's removed tail.
    Result finish(std::string& out, size_t limit);

private:
    Result run(const char* in, size_t n, std::string& out, size_t limit);
    DeflateSide side_;
    std::unique_ptr<z_stream_s> zs_;
    std::unique_ptr<char[]> scratch_;
    bool stream_end_ = false;  // the peer ended the deflate stream (a block with BFINAL) this message
    bool fed_ = false;         // this message had compressed bytes
};

/// Compresses messages.
class Deflater {
public:
    explicit Deflater(DeflateSide side);
    ~Deflater();
    Deflater(const Deflater&) = delete;
    Deflater& operator=(const Deflater&) = delete;
    /// zlib cannot deflate raw with a 256-byte window: when 8 bits were agreed, messages go
    /// uncompressed, which RFC 7692 allows any message to be.
    bool usable() const noexcept { return side_.window_bits >= 9; }
    /// One whole message's payload, compressed, with RFC 7692's tail removed.
    void compress(std::string_view in, std::string& out);

private:
    DeflateSide side_;
    std::unique_ptr<z_stream_s> zs_;
};

// ---------------------------------------------------------------------------------------------
// Frames

/// XORs n bytes with the masking key, starting at byte `offset` of the frame's payload.
void apply_mask(char* p, size_t n, const uint8_t key[4], size_t offset) noexcept;

/// Why the reader stopped: the close code to send and a short reason for it.
struct ProtocolError {
    uint16_t code = 0;
    std::string reason;
};

struct ReaderOptions {
    /// The largest message (text or binary, all its fragments, after decompression); 0: no
    /// limit. aiohttp's max_msg_size, with its default.
    size_t max_msg_size = default_max_msg_size;
    /// Set when permessage-deflate was agreed: how the peer compresses.
    std::optional<DeflateSide> deflate;
    ReaderOptions() {}
};

/// Reads frames as they arrive and gives whole messages: text and binary messages put
/// together from their fragments (inflated, UTF-8 checked), and the control frames.
class FrameReader {
public:
    explicit FrameReader(Role role, ReaderOptions options = {});
    ~FrameReader();
    FrameReader(const FrameReader&) = delete;
    FrameReader& operator=(const FrameReader&) = delete;

    enum class State : uint8_t {
        reading,  // wants more bytes
        message,  // a message is ready: take() it
        failed,   // the peer broke the protocol: error() says how; the connection is done
        closed,   // a close frame was taken: the peer sends nothing after it
    };

    /// Consumes bytes until a message is complete, the peer is found breaking the protocol, or
    /// the bytes run out; returns how many it consumed. What follows a complete message is left
    /// for the next call, so a caller that is not ready for more messages stops there.
    /// When failed or closed, consumes everything and ignores it; with a message waiting,
    /// consumes nothing.
    size_t feed(std::string_view data);
    State state() const noexcept { return state_; }
    /// The ready message; the reader goes back to reading (closed after a close frame).
    WSMessage take();
    const ProtocolError& error() const noexcept { return error_; }

private:
    bool on_header();
    void on_payload(const char* p, size_t n);
    void on_frame_end();
    void fail(uint16_t code, std::string reason);
    /// The inflater crossed max_msg_size: 1009, unless the text inflated up to it is not UTF-8.
    void fail_too_big(size_t at);

    Role role_;
    ReaderOptions options_;
    std::unique_ptr<Inflater> inflater_;
    State state_ = State::reading;
    ProtocolError error_;

    // The frame being read.
    uint8_t hdr_[14];
    uint8_t hdr_have_ = 0;
    uint8_t hdr_need_ = 2;
    bool in_payload_ = false;
    bool fin_ = false;
    uint8_t opcode_ = 0;
    bool masked_ = false;
    uint8_t mask_[4] = {};
    uint64_t payload_len_ = 0;
    uint64_t payload_done_ = 0;

    // The data message being put together (across fragments) and the control frame's payload.
    bool in_message_ = false;
    bool msg_compressed_ = false;
    uint8_t msg_opcode_ = 0;
    std::string msg_;
    Utf8Validator utf8_;
    std::string control_;
    std::string unmasked_;  // a compressed frame's payload chunk, unmasked before inflating
    WSMessage ready_;
};

struct WriterOptions {
    /// Messages longer than this are sent as several frames; 0: one frame per message.
    size_t fragment_size = 0;
    /// Set when permessage-deflate was agreed: how this side compresses.
    std::optional<DeflateSide> deflate;
    /// Client role: fills 4 bytes with a frame's masking key. Empty: OpenSSL's RAND_bytes, as
    /// RFC 6455 section 10.3 wants keys a third party cannot predict. Tests give a fixed one.
    std::function<void(uint8_t key[4])> mask_key;
    WriterOptions() {}
};

/// Writes messages as frames, appended to a string the caller sends.
class FrameWriter {
public:
    explicit FrameWriter(Role role, WriterOptions options = {});
    ~FrameWriter();
    FrameWriter(const FrameWriter&) = delete;
    FrameWriter& operator=(const FrameWriter&) = delete;

    /// A TEXT or BINARY message, compressed when deflate was agreed and compress is true.
    /// Throws std::invalid_argument for text that is not UTF-8 (the peer would close with 1007)
    /// or another type.
    void message(std::string& out, WSMsgType type, std::string_view payload, bool compress = true);
    /// As message(), but when the message is one unmasked, uncompressed frame (a server's usual
    /// case) only its head goes into `out` and the payload is returned, for the caller to write
    /// right after: a big message is then copied once, into the connection's buffer, not twice.
    /// Otherwise the whole frame is in `out` and the result is empty.
    std::string_view message_apart(std::string& out, WSMsgType type, std::string_view payload, bool compress = true);
    /// Throw std::invalid_argument for more than 125 bytes.
    void ping(std::string& out, std::string_view payload = {});
    void pong(std::string& out, std::string_view payload = {});
    /// A close frame. code 0: a frame without a code (and so without a reason). Throws
    /// std::invalid_argument for a code that may not be sent (ws_close_code_allowed) or a
    /// reason over 123 bytes or not UTF-8.
    void close(std::string& out, uint16_t code = 1000, std::string_view reason = {});
    /// One frame as given, masked per the role: for the tests and the conformance cases,
    /// which need frames no message would make.
    void frame(std::string& out, uint8_t opcode, bool fin, bool rsv1, std::string_view payload);

private:
    void next_key(uint8_t key[4]);
    void head(std::string& out, uint8_t opcode, bool fin, bool rsv1, size_t n, const uint8_t* key);
    Role role_;
    WriterOptions options_;
    std::unique_ptr<Deflater> deflater_;
    std::string compressed_;
    uint8_t random_[64];
    size_t random_left_ = 0;
};

}  // namespace aio::http::detail::ws
