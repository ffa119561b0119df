// Streams (include/aio/net/streams.hpp), after asyncio/streams.py: StreamReader's buffer and its
// one waiting task, the protocol that feeds it, and the writer's drain().
#include "aio/net/streams.hpp"

#include <cerrno>
#include <system_error>
#include <vector>

#include "aio/core/future.hpp"
#include "aio/core/sleep.hpp"
#include "aio/detail/core.hpp"
#include "stream_internal.hpp"

namespace aio {
namespace detail {

class DataWait;

/// The one task waiting on a reader: a DataWait (inside readexactly/readuntil/readline) or a
/// ReadOp (read).
struct ReaderWaiter {
    DataWait* data = nullptr;
    ReadOp* read = nullptr;
    explicit operator bool() const noexcept { return data || read; }
};

/// The buffer behind a StreamReader. Unread bytes are buf[off, size): consuming from the front
/// moves `off` and compacts only now and then, so reading line by line is not quadratic.
struct ReaderState {
    explicit ReaderState(size_t l) : limit(l) {}
    std::string buf;
    size_t off = 0;
    size_t limit;
    bool eof = false;
    std::exception_ptr exc;
    std::weak_ptr<Transport> transport;
    bool paused = false;
    ReaderWaiter waiter;

    [[nodiscard]] size_t size() const noexcept { return buf.size() - off; }
    [[nodiscard]] std::string_view view() const noexcept { return {buf.data() + off, buf.size() - off}; }

    std::string take(size_t n) {
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
    void clear() {
        buf.clear();
        off = 0;
        maybe_resume();
    }
    /// Reading again whatever the buffer holds: a task is about to wait for more.
    void resume_if_paused() {
        if (!paused) return;
        paused = false;
        if (auto t = transport.lock()) t->resume_reading();
    }
    void maybe_resume() {
        if (paused && size() <= limit) {
            paused = false;
            if (auto t = transport.lock()) t->resume_reading();
        }
    }
    inline void wakeup() noexcept;
    void feed_data(std::string_view d) {
        if (eof) throw RuntimeError("feed_data after feed_eof");
        if (d.empty()) return;
        buf.append(d);
        // read(-1) waits for EOF only: waking it for every chunk would just put it back to sleep.
        if (!(waiter.read && waiter.read->until_eof())) wakeup();
        if (!paused && size() > 2 * limit && !(waiter.read && waiter.read->until_eof())) {
            // Stop reading the socket until the consumer catches up (asyncio: _maybe_resume_transport).
            if (auto t = transport.lock()) {
                t->pause_reading();
                paused = true;
            }
        }
    }
    void feed_eof() noexcept {
        eof = true;
        wakeup();
    }
    void set_exception(std::exception_ptr e) noexcept {
        exc = std::move(e);
        wakeup();
    }
    void throw_if_exc() const {
        if (exc) std::rethrow_exception(exc);
    }
};

/// Suspends the one reading task until the buffer changes (Python: StreamReader._wait_for_data).
class DataWait final : public SlotWait {
public:
    DataWait(ReaderState& s, const char* fn) noexcept : s_(&s), fn_(fn) {}
    DataWait(const DataWait&) = delete;
    DataWait& operator=(const DataWait&) = delete;
    ~DataWait() {
        if (s_->waiter.data == this) s_->waiter.data = nullptr;
    }
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) {
        if (s_->waiter)
            throw RuntimeError(std::string(fn_) +
                               "() called while another coroutine is already waiting for incoming data");
        TaskCore& t = current_task_core();
        // A waiting reader must be able to make progress even above the pause threshold
        // (readexactly of more than 2 * limit).
        s_->resume_if_paused();
        s_->waiter.data = this;
        suspend(t, h);
    }
    void await_resume() { resumed(); }
    bool cancel_wait(TaskCore& t) noexcept override {
        s_->waiter.data = nullptr;
        return cancelled(t);
    }
    void describe(std::string& out) const override {
        out += "waiting in StreamReader." + std::string(fn_) + "() (" + std::to_string(s_->size()) +
               " bytes buffered" + (s_->eof ? ", at EOF)" : ")");
    }
    void wake() noexcept {
        s_->waiter.data = nullptr;
        wake_task();
    }

private:
    ReaderState* s_;
    const char* fn_;
};

inline void ReaderState::wakeup() noexcept {
    if (waiter.data) waiter.data->wake();
    else if (waiter.read) waiter.read->wake();
}

// --- ReadOp: read(n) without a coroutine frame ------------------------------------------------

ReadOp::~ReadOp() {
    if (queued_ && s_->waiter.read == this) s_->waiter.read = nullptr;
}

bool ReadOp::await_ready() {
    ReaderState& s = *s_;
    if (n_ == 0 || s.exc || s.eof) return true;
    return n_ > 0 && s.size() > 0;
}

void ReadOp::await_suspend(std::coroutine_handle<> h) {
    ReaderState& s = *s_;
    if (s.waiter) throw RuntimeError("read() called while another coroutine is already waiting for incoming data");
    TaskCore& t = current_task_core();
    s.resume_if_paused();  // see DataWait::await_suspend
    s.waiter.read = this;
    queued_ = true;
    suspend(t, h);
}

std::string ReadOp::await_resume() {
    resumed();
    ReaderState& s = *s_;
    s.throw_if_exc();
    if (n_ == 0) return std::string();
    if (n_ < 0) return s.take(s.size());  // woken at EOF (or ready at EOF)
    return s.take(std::min(s.size(), static_cast<size_t>(n_)));
}

bool ReadOp::cancel_wait(TaskCore& t) noexcept {
    if (s_->waiter.read == this) s_->waiter.read = nullptr;
    queued_ = false;
    return cancelled(t);
}

void ReadOp::describe(std::string& out) const {
    out += "waiting in StreamReader.read(" + std::to_string(n_) + ") (" + std::to_string(s_->size()) +
           " bytes buffered" + (s_->eof ? ", at EOF)" : ")");
}

void ReadOp::wake() noexcept {
    s_->waiter.read = nullptr;
    queued_ = false;
    wake_task();
}

/// StreamReaderProtocol + FlowControlMixin: feeds the reader, tracks write pausing for drain(),
/// and for servers runs client_connected_cb.
class StreamProtocol final : public Protocol, public std::enable_shared_from_this<StreamProtocol> {
public:
    StreamProtocol(std::shared_ptr<ReaderState> r, ClientConnected cb) : reader(std::move(r)), cb_(std::move(cb)) {}

    void connection_made(Transport& t) override {
        transport = &t;
        loop = &t.get_loop();
        reader->transport = t.shared_from_this();
        if (cb_) {
            StreamWriter w(t.shared_from_this(), shared_from_this());
            aio::create_task(run_handler(std::move(cb_), StreamReader(reader), std::move(w)));
        }
    }
    void data_received(std::string_view data) override { reader->feed_data(data); }
    bool eof_received() override {
        reader->feed_eof();
        return true;  // keep our write side open: half-close, as asyncio does over plain sockets
    }
    void connection_lost(std::exception_ptr exc) override {
        lost = true;
        lost_exc = exc;
        if (exc) reader->set_exception(exc);
        else reader->feed_eof();
        wake_drainers();
        auto waiters = std::move(close_waiters);
        close_waiters.clear();
        for (auto& f : waiters) {
            if (f.done()) continue;
            if (exc) f.set_exception(exc);
            else f.set_result();
        }
        transport = nullptr;
    }
    void pause_writing() override { paused = true; }
    void resume_writing() override {
        paused = false;
        wake_drainers();
    }
    void wake_drainers() {
        auto waiters = std::move(drain_waiters);
        drain_waiters.clear();
        for (auto& f : waiters)
            if (!f.done()) f.set_result();
    }

    std::shared_ptr<ReaderState> reader;
    Transport* transport = nullptr;
    EventLoop* loop = nullptr;
    bool paused = false;
    bool lost = false;
    std::exception_ptr lost_exc;
    std::vector<Future<void>> drain_waiters;
    std::vector<Future<void>> close_waiters;

private:
    static Task<void> run_handler(ClientConnected cb, StreamReader r, StreamWriter w) {
        std::exception_ptr err;
        try {
            co_await cb(r, w);
        } catch (const CancelledError&) {
            w.transport().abort();
            throw;
        } catch (...) {
            err = std::current_exception();
        }
        if (err) {
            get_running_loop().call_exception_handler({"Unhandled exception in client_connected_cb", err, {}});
            w.transport().abort();
            co_return;
        }
        if (!w.is_closing()) w.close();
    }

    ClientConnected cb_;
};

namespace {

Task<std::string> do_readexactly(std::shared_ptr<ReaderState> s, size_t n) {
    s->throw_if_exc();
    if (n == 0) co_return std::string();
    while (s->size() < n) {
        if (s->eof) {
            std::string partial = s->take(s->size());
            throw IncompleteReadError(std::move(partial), n);
        }
        co_await DataWait(*s, "readexactly");
        s->throw_if_exc();
    }
    co_return s->take(n);
}

// asyncio's readuntil: scan only the new bytes each time, and give up once the separator cannot
// start within the limit.
Task<std::string> do_readuntil(std::shared_ptr<ReaderState> s, std::string sep, const char* fn) {
    if (sep.empty()) throw std::invalid_argument("Separator should be at least one-byte string");
    s->throw_if_exc();
    const size_t seplen = sep.size();
    size_t offset = 0;
    size_t isep;
    for (;;) {
        const size_t buflen = s->size();
        if (buflen - offset >= seplen) {
            isep = s->view().find(sep, offset);
            if (isep != std::string_view::npos) break;
            offset = buflen + 1 - seplen;
            if (offset > s->limit)
                throw LimitOverrunError("Separator is not found, and chunk exceed the limit", offset);
        }
        if (s->eof) {
            std::string partial = s->take(s->size());
            throw IncompleteReadError(std::move(partial), std::nullopt);
        }
        co_await DataWait(*s, fn);
        s->throw_if_exc();
    }
    if (isep > s->limit) throw LimitOverrunError("Separator is found, but chunk is longer than limit", isep);
    co_return s->take(isep + seplen);
}

Task<std::string> do_readline(std::shared_ptr<ReaderState> s) {
    std::string line;
    std::optional<LimitOverrunError> overrun;
    try {
        line = co_await do_readuntil(s, "\n", "readline");
    } catch (const IncompleteReadError& e) {
        line = e.partial();
    } catch (const LimitOverrunError& e) {
        overrun.emplace(e);
    }
    if (overrun) {
        // Python discards the over-long line (up to its separator if it is in the buffer).
        if (s->view().substr(overrun->consumed(), 1) == "\n") s->take(overrun->consumed() + 1);
        else s->clear();
        throw LimitOverrunError(std::string(overrun->what()) + " (line discarded)", overrun->consumed());
    }
    co_return line;
}

AsyncGenerator<std::string> do_lines(std::shared_ptr<ReaderState> s) {
    for (;;) {
        std::string line = co_await do_readline(s);
        if (line.empty()) co_return;
        co_yield std::move(line);
    }
}

}  // namespace

bool drain_ready(const Transport& t, const StreamProtocol& p) noexcept {
    return !p.reader->exc && !p.lost && !p.paused && !t.is_closing();
}

Task<void> drain_slow(std::shared_ptr<Transport> t, std::shared_ptr<StreamProtocol> p) {
    p->reader->throw_if_exc();
    if (t->is_closing()) {
        // Let connection_lost run first if it is already scheduled (asyncio does the same).
        co_await sleep(std::chrono::nanoseconds(0));
    }
    if (p->lost) {
        if (p->lost_exc) std::rethrow_exception(p->lost_exc);
        throw std::system_error(ECONNRESET, std::generic_category(), "Connection lost");
    }
    if (!p->paused) co_return;
    Future<void> f(t->get_loop());
    p->drain_waiters.push_back(f);
    co_await f;
    if (p->lost && p->lost_exc) std::rethrow_exception(p->lost_exc);
}

namespace {

Task<void> do_wait_closed(std::shared_ptr<StreamProtocol> p) {
    if (p->lost) {
        if (p->lost_exc) std::rethrow_exception(p->lost_exc);
        co_return;
    }
    Future<void> f(*p->loop);
    p->close_waiters.push_back(f);
    co_await f;
}

ProtocolFactory stream_factory(ClientConnected cb, size_t limit) {
    return [cb = std::move(cb), limit]() -> std::shared_ptr<Protocol> {
        return std::make_shared<StreamProtocol>(std::make_shared<ReaderState>(limit), cb);
    };
}

}  // namespace
}  // namespace detail

using detail::ReaderState;
using detail::StreamProtocol;

StreamReader::StreamReader(size_t limit) : s_(std::make_shared<ReaderState>(limit)) {
    if (limit == 0) throw std::invalid_argument("StreamReader limit must be positive");
}
Task<std::string> StreamReader::readexactly(size_t n) const { return detail::do_readexactly(s_, n); }
Task<std::string> StreamReader::readline() const { return detail::do_readline(s_); }
Task<std::string> StreamReader::readuntil(std::string separator) const {
    return detail::do_readuntil(s_, std::move(separator), "readuntil");
}
AsyncGenerator<std::string> StreamReader::lines() const { return detail::do_lines(s_); }
bool StreamReader::at_eof() const noexcept { return s_->eof && s_->size() == 0; }
void StreamReader::feed_data(std::string_view data) { s_->feed_data(data); }
void StreamReader::feed_eof() { s_->feed_eof(); }
void StreamReader::set_exception(std::exception_ptr e) { s_->set_exception(std::move(e)); }
std::exception_ptr StreamReader::exception() const noexcept { return s_->exc; }
size_t StreamReader::limit() const noexcept { return s_->limit; }
size_t StreamReader::buffered() const noexcept { return s_->size(); }

Task<void> StreamWriter::wait_closed() const { return detail::do_wait_closed(p_); }

Task<StreamPair> open_connection(std::string host, uint16_t port, ConnectOptions options) {
    auto reader = std::make_shared<ReaderState>(options.limit);
    auto proto = std::make_shared<StreamProtocol>(reader, nullptr);
    // Named, not a temporary inside the co_await expression: g++ 12 destroys a capturing
    // lambda temporary of such an expression twice (docs/design.md, "Compiler notes").
    ProtocolFactory factory = [proto]() -> std::shared_ptr<Protocol> { return proto; };
    auto conn = co_await create_connection(std::move(factory), std::move(host), port, options);
    co_return StreamPair{StreamReader(reader), StreamWriter(std::move(conn.first), proto)};
}

Task<StreamPair> open_connection(Socket sock, size_t limit) { co_return detail::streams_over(std::move(sock), limit); }

namespace detail {
StreamPair streams_over(Socket sock, size_t limit) {
    if (!sock) throw std::invalid_argument("open_connection: the socket is closed");
    auto reader = std::make_shared<ReaderState>(limit);
    auto proto = std::make_shared<StreamProtocol>(reader, nullptr);
    ProtocolFactory factory = [proto]() -> std::shared_ptr<Protocol> { return proto; };
    auto conn = create_connection(std::move(factory), std::move(sock));
    return StreamPair{StreamReader(reader), StreamWriter(std::move(conn.first), proto)};
}
}  // namespace detail

Task<StreamPair> open_unix_connection(std::string path, size_t limit) {
    auto reader = std::make_shared<ReaderState>(limit);
    auto proto = std::make_shared<StreamProtocol>(reader, nullptr);
    ProtocolFactory factory = [proto]() -> std::shared_ptr<Protocol> { return proto; };  // see open_connection
    auto conn = co_await create_unix_connection(std::move(factory), std::move(path));
    co_return StreamPair{StreamReader(reader), StreamWriter(std::move(conn.first), proto)};
}

Task<Server> start_server(ClientConnected cb, std::string host, uint16_t port, ServerOptions options) {
    if (!cb) throw std::invalid_argument("start_server: empty client_connected_cb");
    ProtocolFactory factory = detail::stream_factory(std::move(cb), options.limit);  // see open_connection
    co_return co_await create_server(std::move(factory), std::move(host), port, options);
}

Task<Server> start_unix_server(ClientConnected cb, std::string path, ServerOptions options) {
    if (!cb) throw std::invalid_argument("start_unix_server: empty client_connected_cb");
    ProtocolFactory factory = detail::stream_factory(std::move(cb), options.limit);  // see open_connection
    co_return co_await create_unix_server(std::move(factory), std::move(path), options);
}

}  // namespace aio
