// WebSocket types shared by the server and the client (RFC 6455), with their aiohttp counterparts.
//
//   aiohttp.WSMsgType     aio::http::WSMsgType
//   aiohttp.WSCloseCode   aio::http::WSCloseCode
//   aiohttp.WSMessage     aio::http::WSMessage
//   TypeError (receive_str of a BINARY message)   aio::http::WSMessageTypeError
//
// The enumerators keep aiohttp's names (WSMsgType::TEXT, WSCloseCode::GOING_AWAY), as
// aio::ReturnWhen keeps asyncio's, so ported code reads the same.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "aio/core/errors.hpp"

namespace aio::http {

/// aiohttp.WSMsgType: what a received WSMessage is. The first six are the RFC 6455 opcodes;
/// CLOSING, CLOSED and ERROR are states the receiving side reports, never sent on the wire.
enum class WSMsgType : uint16_t {
    CONTINUATION = 0x0,
    TEXT = 0x1,
    BINARY = 0x2,
    CLOSE = 0x8,
    PING = 0x9,
    PONG = 0xa,
    CLOSING = 0x100,
    CLOSED = 0x101,
    ERROR = 0x102,
};

/// aiohttp.WSCloseCode: the status codes of a close frame (RFC 6455 section 7.4.1, IANA's
/// registry). Any code in 3000-4999 may be sent too (registered or private use).
/// NO_STATUS_RECEIVED (1005) is aiocpp's addition: it is what a close frame without a code
/// reports, as RFC 6455 says; like ABNORMAL_CLOSURE (1006) it is never sent in a frame.
enum class WSCloseCode : uint16_t {
    OK = 1000,
    GOING_AWAY = 1001,
    PROTOCOL_ERROR = 1002,
    UNSUPPORTED_DATA = 1003,
    NO_STATUS_RECEIVED = 1005,
    ABNORMAL_CLOSURE = 1006,
    INVALID_TEXT = 1007,
    POLICY_VIOLATION = 1008,
    MESSAGE_TOO_BIG = 1009,
    MANDATORY_EXTENSION = 1010,
    INTERNAL_ERROR = 1011,
    SERVICE_RESTART = 1012,
    TRY_AGAIN_LATER = 1013,
    BAD_GATEWAY = 1014,
};

/// Whether a close code may appear in a close frame, sent or received: 1000-1003, 1007-1014
/// and 3000-4999. 1004 (reserved), 1005, 1006 and 1015 (TLS failure) only ever describe a
/// close locally; 0-999, 1016-2999 and 5000 up are not close codes at all.
constexpr bool ws_close_code_allowed(uint16_t code) noexcept {
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/// aiohttp.WSMessage: one received message or control frame. aiohttp keeps a close frame's code
/// in `data` and its reason in `extra`; C++ needs one type for `data`, so the code has its own
/// member and `extra` keeps the reason as in aiohttp.
struct WSMessage {
    WSMsgType type = WSMsgType::CLOSED;
    /// TEXT: UTF-8 (validated); BINARY: the bytes; PING/PONG: the application data (<= 125 bytes).
    std::string data;
    /// CLOSE: the peer's close code; 1005 (NO_STATUS_RECEIVED) when its frame had none.
    uint16_t close_code = 0;
    /// CLOSE: the reason the peer gave (UTF-8, validated; may be empty).
    std::string extra;

    WSMessage() = default;
    WSMessage(WSMsgType t, std::string d, uint16_t code = 0, std::string e = {})
        : type(t), data(std::move(d)), close_code(code), extra(std::move(e)) {}
};

/// What receive_str / receive_bytes / receive_json (server and client) throw for a message of another type
/// (aiohttp raises TypeError).
class WSMessageTypeError : public Error {
public:
    using Error::Error;
};

}  // namespace aio::http
