// The HTTP/1.1 message parser: llhttp (Node.js's), in strict mode, behind a small C++ interface.
// Private to src/http (the fuzz targets and tests include it too).
//
// llhttp is C: a C++ exception must never unwind through it. Every callback catches what the
// sink throws, stores it and returns an error code; feed() rethrows once llhttp has returned.
#pragma once

#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include "aio/http/errors.hpp"
#include "aio/http/headers.hpp"
#include "llhttp.h"

namespace aio::http::detail {

/// The start line and headers of one message.
struct MessageHead {
    std::string method;  // requests: "GET"...
    std::string target;  // requests: the request target as sent ("/a?b=c")
    int status = 0;      // responses
    std::string reason;  // responses
    int version_major = 1;
    int version_minor = 1;
    Headers headers;
    bool keep_alive = true;   // the connection may carry another message after this one
    bool chunked = false;     // Transfer-Encoding: chunked
    bool upgrade = false;     // an Upgrade request/response (the bytes after it are not HTTP)
    std::optional<uint64_t> content_length;
    void clear() noexcept;
    /// Member by member: cheaper than std::swap's three moves of the whole struct.
    void swap(MessageHead& o) noexcept;
};

/// Size limits of a message head (aiohttp: max_line_size, max_field_size, max_headers).
struct ParserLimits {
    size_t max_line_size = 8190;    // the request target or the reason phrase: 414 beyond
    size_t max_field_size = 8190;   // one header name plus its value: 431 beyond
    size_t max_headers = 100;       // header fields per message: 431 beyond
    size_t max_headers_size = 32 * 1024;  // the whole head: 431 beyond
};

/// What the parser reports, in order, for each message.
class ParserSink {
public:
    virtual ~ParserSink() = default;
    /// A message begins: where to parse its head (it is cleared first). The default, null, uses
    /// the parser's own; a sink that keeps heads returns one it owns and saves a copy later.
    virtual MessageHead* begin_message() { return nullptr; }
    /// What to do with the body of the message whose head just ended.
    enum class Body {
        read,     // as its headers say
        none,     // there is none whatever the headers say (a response to HEAD)
        stop,     // do not read it: parsing stops here (feed() returns; failed() is true)
    };
    /// The head is complete. The sink may take it (move or swap it out): the parser clears it
    /// before the next message. May throw (BadHttpMessage: feed() rethrows it).
    virtual Body on_head(MessageHead& head) = 0;
    /// A piece of the body (decoded from chunked framing); the view is valid during the call.
    virtual void on_body(std::string_view chunk) = 0;
    /// The message is complete.
    virtual void on_message_complete() = 0;
};

class Parser {
public:
    enum class Kind { request, response };
    Parser(Kind kind, ParserSink& sink, ParserLimits limits = {});
    Parser(const Parser&) = delete;
    Parser& operator=(const Parser&) = delete;

    /// Parses `data`. Throws BadHttpMessage (with the status a server should answer) on a protocol
    /// error; the parser is then unusable. Returns the number of bytes used: all of them, except
    /// after an upgrade (the rest belongs to the new protocol) or when the sink stopped parsing.
    size_t feed(std::string_view data);
    /// The peer closed its side. Completes a body delimited by the close; throws BadHttpMessage
    /// when a message was cut short. Nothing happens between messages.
    void feed_eof();
    /// True between the first byte of a message and its end.
    [[nodiscard]] bool in_message() const noexcept { return in_message_; }
    /// True while the head of a message is being read (its first byte came, its end not yet).
    [[nodiscard]] bool in_head() const noexcept { return in_message_ && !head_done_; }
    /// True once a parse error was thrown, or the sink stopped parsing.
    [[nodiscard]] bool failed() const noexcept { return failed_; }
    /// True after feed() stopped at the end of an upgrade request or a 101 response: the bytes
    /// after it are another protocol's. resume_after_upgrade() goes back to parsing HTTP.
    [[nodiscard]] bool upgraded() const noexcept { return upgraded_; }
    void resume_after_upgrade() noexcept;
    /// Starts over (a new connection, or after an error). Limits and sink stay.
    void reset() noexcept;

private:
    static int cb_message_begin(llhttp_t* p);
    static int cb_url(llhttp_t* p, const char* at, size_t n);
    static int cb_status(llhttp_t* p, const char* at, size_t n);
    static int cb_header_field(llhttp_t* p, const char* at, size_t n);
    static int cb_header_value(llhttp_t* p, const char* at, size_t n);
    static int cb_headers_complete(llhttp_t* p);
    static int cb_body(llhttp_t* p, const char* at, size_t n);
    static int cb_message_complete(llhttp_t* p);
    int fail(std::exception_ptr e) noexcept;
    int fail(const char* message, int status) noexcept;
    int count_head(size_t n, int status) noexcept;
    void finish_field();
    [[noreturn]] void throw_error(llhttp_errno_t err);

    llhttp_t parser_{};
    llhttp_settings_t settings_{};
    Kind kind_;
    ParserSink& sink_;
    ParserLimits limits_;
    MessageHead own_head_;
    MessageHead* head_ = &own_head_;
    // The header being parsed is the last entry of head_->headers, filled in place.
    std::pair<std::string, std::string>* field_ = nullptr;
    bool in_value_ = false;
    bool in_message_ = false;
    bool head_done_ = false;
    bool failed_ = false;
    bool upgraded_ = false;
    bool stopped_ = false;
    size_t head_bytes_ = 0;
    // For telling an obs-fold continuation from a header value split across two reads.
    const char* chunk_begin_ = nullptr;
    char last_byte_ = 0;
    std::exception_ptr error_;
};

}  // namespace aio::http::detail
