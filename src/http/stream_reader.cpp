#include "aio/http/stream_reader.hpp"

#include "aio/net/errors.hpp"

namespace aio::http {

namespace detail {
std::string BodyState::take(size_t n) {
    std::string out(buf.data() + off, n);
    off += n;
    if (off == buf.size()) {
        buf.clear();
        off = 0;
    } else if (off >= 64 * 1024 && off * 2 >= buf.size()) {
        buf.erase(0, off);
        off = 0;
    }
    maybe_resume();
    return out;
}

void BodyState::maybe_resume() noexcept {
    if (paused && size() <= high_water / 4) {
        paused = false;
        if (flow) flow->resume_reading();
    }
}
}  // namespace detail

namespace {
/// Marks the one reading task for its whole read: two tasks reading one body is a bug.
class ReadingScope {
public:
    explicit ReadingScope(detail::BodyState& s) : s_(s) {
        if (s.reading) throw RuntimeError("another task is already reading this body");
        s.reading = true;
    }
    ~ReadingScope() { s_.reading = false; }
    ReadingScope(const ReadingScope&) = delete;
    ReadingScope& operator=(const ReadingScope&) = delete;

private:
    detail::BodyState& s_;
};

/// Waits for the buffer to change (more bytes, EOF or an error). Before waiting, a paused
/// connection resumes: the reader wants more than the buffer has.
Task<void> wait_change(std::shared_ptr<detail::BodyState> s) {
    if (s->paused) {
        s->paused = false;
        if (s->flow) s->flow->resume_reading();
    }
    s->ready.clear();
    co_await s->ready.wait();
}

void rethrow_if_failed(const detail::BodyState& s) {
    if (s.exc) std::rethrow_exception(s.exc);
}
}  // namespace

StreamReader::StreamReader() : s_(std::make_shared<detail::BodyState>()) {}

void StreamReader::feed_data(std::string_view data) {
    auto& s = *s_;
    if (s.eof) throw RuntimeError("feed_data after feed_eof");
    if (data.empty()) return;
    s.buf.append(data);
    s.total += data.size();
    s.ready.set();
    if (!s.paused && s.flow && s.size() > s.high_water) {
        s.paused = true;
        s.flow->pause_reading();
    }
}

void StreamReader::feed_eof() noexcept {
    s_->eof = true;
    s_->ready.set();
}

void StreamReader::set_exception(std::exception_ptr e) noexcept {
    s_->exc = std::move(e);
    s_->eof = true;
    s_->ready.set();
}

// The reads are coroutines over the shared state taken by value, not members: a StreamReader is
// a handle often used as a temporary (`request.content().read()`), and a member coroutine would
// keep a reference to that temporary past its end.
namespace {
Task<std::string> read_impl(std::shared_ptr<detail::BodyState> s, std::ptrdiff_t n) {
    ReadingScope scope(*s);
    if (n == 0) co_return std::string();
    if (n < 0) {
        while (!s->eof) co_await wait_change(s);
        rethrow_if_failed(*s);
        co_return s->take(s->size());
    }
    while (s->size() == 0 && !s->eof) co_await wait_change(s);
    if (s->size() == 0) rethrow_if_failed(*s);
    co_return s->take(std::min(s->size(), static_cast<size_t>(n)));
}

Task<std::string> readexactly_impl(std::shared_ptr<detail::BodyState> s, size_t n) {
    ReadingScope scope(*s);
    while (s->size() < n && !s->eof) co_await wait_change(s);
    if (s->size() < n) {
        rethrow_if_failed(*s);
        throw IncompleteReadError(s->take(s->size()), n);
    }
    co_return s->take(n);
}

Task<std::string> readline_impl(std::shared_ptr<detail::BodyState> s, size_t limit) {
    ReadingScope scope(*s);
    size_t scanned = 0;
    for (;;) {
        std::string_view view(s->buf.data() + s->off, s->size());
        size_t nl = view.find('\n', scanned);
        if (nl != std::string_view::npos) {
            if (nl + 1 > limit) {
                s->take(nl + 1);
                throw LimitOverrunError("Line is too long", nl + 1);
            }
            co_return s->take(nl + 1);
        }
        if (view.size() > limit) throw LimitOverrunError("Line is too long", view.size());
        scanned = view.size();
        if (s->eof) {
            if (s->size() == 0) rethrow_if_failed(*s);
            co_return s->take(s->size());
        }
        co_await wait_change(s);
    }
}

AsyncGenerator<std::string> iter_impl(std::shared_ptr<detail::BodyState> s, std::ptrdiff_t n) {
    for (;;) {
        std::string chunk = co_await read_impl(s, n);
        if (chunk.empty()) co_return;
        co_yield std::move(chunk);
    }
}

constexpr std::ptrdiff_t kAny = static_cast<std::ptrdiff_t>(1) << 40;
}  // namespace

Task<std::string> StreamReader::read(std::ptrdiff_t n) const { return read_impl(s_, n); }
Task<std::string> StreamReader::readany() const { return read_impl(s_, kAny); }
Task<std::string> StreamReader::readexactly(size_t n) const { return readexactly_impl(s_, n); }
Task<std::string> StreamReader::readline(size_t limit) const { return readline_impl(s_, limit); }
AsyncGenerator<std::string> StreamReader::iter_chunked(size_t n) const {
    return iter_impl(s_, static_cast<std::ptrdiff_t>(n));
}
AsyncGenerator<std::string> StreamReader::iter_any() const { return iter_impl(s_, kAny); }

}  // namespace aio::http
