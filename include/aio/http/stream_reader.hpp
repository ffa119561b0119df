// aio::http::StreamReader — aiohttp.StreamReader: the body of a request (request.content) or of
// a client response (response.content), read as it arrives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <string_view>

#include "aio/core/async_generator.hpp"
#include "aio/core/task.hpp"
#include "aio/sync/event.hpp"

namespace aio::http {

namespace detail {
/// Told when a body's buffer grows past its high-water mark and when it drains again, so the
/// connection can stop and restart reading its socket (flow control).
class FlowControl {
public:
    virtual ~FlowControl() = default;
    virtual void pause_reading() noexcept = 0;
    virtual void resume_reading() noexcept = 0;
};

struct BodyState {
    std::string buf;
    size_t off = 0;
    bool eof = false;
    bool reading = false;  // a task is inside a read
    bool paused = false;   // flow->pause_reading() was called and not yet undone
    std::exception_ptr exc;
    uint64_t total = 0;
    size_t high_water = 256 * 1024;
    FlowControl* flow = nullptr;
    Event ready;

    [[nodiscard]] size_t size() const noexcept { return buf.size() - off; }
    std::string take(size_t n);
    void maybe_resume() noexcept;
};
}  // namespace detail

/// aiohttp.StreamReader: bytes fed by the connection, read by one task at a time. A copyable
/// handle: copies share the buffer.
///
/// Cancel safety: every read takes its bytes out of the buffer only when it returns, so a
/// cancelled read loses nothing. Errors: a body cut short (the connection closed mid-body) or
/// malformed makes every later read throw that error (ClientPayloadError on the client).
class StreamReader {
public:
    /// A new, empty stream not attached to a connection (fed by hand: handy in tests).
    StreamReader();
    explicit StreamReader(std::shared_ptr<detail::BodyState> s) noexcept : s_(std::move(s)) {}

    /// `await content.read(n=-1)`: up to n bytes (at least one unless at EOF); -1 reads to EOF.
    [[nodiscard]] Task<std::string> read(std::ptrdiff_t n = -1) const;
    /// `await content.readany()`: whatever is buffered, waiting for at least one byte; "" at EOF.
    [[nodiscard]] Task<std::string> readany() const;
    /// `await content.readexactly(n)`: exactly n bytes; aio::IncompleteReadError at EOF.
    [[nodiscard]] Task<std::string> readexactly(size_t n) const;
    /// `await content.readline()`: up to and including "\n" (the rest at EOF). A line longer than
    /// `limit` throws aio::LimitOverrunError (aiohttp: ValueError "Line is too long").
    [[nodiscard]] Task<std::string> readline(size_t limit = 64 * 1024) const;
    /// `async for chunk in content.iter_chunked(n)`: pieces of at most n bytes until EOF.
    [[nodiscard]] AsyncGenerator<std::string> iter_chunked(size_t n) const;
    /// `async for chunk in content.iter_any()`: pieces as they arrive until EOF.
    [[nodiscard]] AsyncGenerator<std::string> iter_any() const;
    /// content.at_eof(): EOF was fed and the buffer is empty.
    [[nodiscard]] bool at_eof() const noexcept { return s_->eof && s_->size() == 0; }
    /// content.is_eof(): EOF was fed (bytes may still be buffered).
    [[nodiscard]] bool is_eof() const noexcept { return s_->eof; }
    /// content.exception().
    [[nodiscard]] std::exception_ptr exception() const noexcept { return s_->exc; }
    /// content.total_bytes: bytes fed so far.
    [[nodiscard]] uint64_t total_bytes() const noexcept { return s_->total; }
    /// Bytes buffered now (aiocpp).
    [[nodiscard]] size_t buffered() const noexcept { return s_->size(); }

    /// The producer's side (aiohttp: feed_data, feed_eof, set_exception).
    void feed_data(std::string_view data);
    void feed_eof() noexcept;
    void set_exception(std::exception_ptr e) noexcept;

    [[nodiscard]] const std::shared_ptr<detail::BodyState>& state() const noexcept { return s_; }

private:
    std::shared_ptr<detail::BodyState> s_;
};

}  // namespace aio::http
