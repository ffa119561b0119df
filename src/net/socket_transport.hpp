// The socket transport and the server state behind aio::Server. Private to src/net.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <sys/types.h>
#include <string>
#include <unordered_set>
#include <vector>

#include "aio/core/future.hpp"
#include "aio/core/task.hpp"
#include "aio/net/socket.hpp"
#include "aio/net/transport.hpp"

namespace aio::detail {

class SocketTransport;

/// Everything an aio::Server refers to. Shared by the Server handle and by each connection it
/// accepted (which detaches itself when lost, for wait_closed).
struct ServerState {
    EventLoop* loop = nullptr;
    std::weak_ptr<ServerState> self;
    ProtocolFactory factory;
    std::vector<Socket> socks;
    std::vector<SockAddr> addrs;
    std::vector<bool> watching;  // per socket: reader registered
    ServerOptions options;
    std::string unix_path;       // removed on close if it is still our socket
    unsigned long unix_ino = 0;
    bool serving = false;
    bool closed = false;
    std::unordered_set<SocketTransport*> conns;
    std::vector<Future<void>> close_waiters;
    // A Server may outlive its loop (a handle kept outside aio::run): the loop closing closes it.
    struct Hook : CloseHook {
        ServerState* owner = nullptr;
    } hook;

    ServerState() = default;
    ServerState(const ServerState&) = delete;
    ServerState& operator=(const ServerState&) = delete;
    ~ServerState();

    void start_serving();
    void stop_watching();
    void close();
    void on_accept(size_t index);
    void detach(SocketTransport* t) noexcept;
    void wake_if_done() noexcept;
};

class SocketTransport final : public Transport {
public:
    SocketTransport(EventLoop& loop, Socket sock, std::shared_ptr<Protocol> protocol,
                    std::shared_ptr<ServerState> server);
    ~SocketTransport() override;

    /// connection_made, then start reading. Call once, right after construction.
    void start();

    void write(std::string_view data) override;
    void write_eof() override;
    [[nodiscard]] bool can_write_eof() const noexcept override { return true; }
    void close() override;
    void abort() override;
    [[nodiscard]] bool is_closing() const noexcept override { return closing_; }
    void pause_reading() override;
    void resume_reading() override;
    [[nodiscard]] bool is_reading() const noexcept override { return !closing_ && !paused_; }
    [[nodiscard]] size_t get_write_buffer_size() const noexcept override {
        return wbuf_.size() - woff_ + inflight_.size() - ioff_;
    }
    void set_write_buffer_limits(std::optional<size_t> high, std::optional<size_t> low) override;
    [[nodiscard]] std::pair<size_t, size_t> get_write_buffer_limits() const noexcept override { return {low_, high_}; }
    [[nodiscard]] SockAddr peername() const override;
    [[nodiscard]] SockAddr sockname() const override;
    [[nodiscard]] int fileno() const noexcept override { return fd_; }
    [[nodiscard]] const std::shared_ptr<Protocol>& get_protocol() const noexcept override { return protocol_; }
    void set_protocol(std::shared_ptr<Protocol> protocol) override;
    [[nodiscard]] EventLoop& get_loop() const noexcept override { return *loop_; }

    // --- aio::sendfile (src/net/sendfile.cpp) ---------------------------------------------------
    /// The kernel path: after what the write buffer holds now, sendfile(2)s up to `count` bytes
    /// (SIZE_MAX: to the end of the file); later write()s queue behind the file. Throws SendfileNotAvailableError if the kernel refuses
    /// the file before a byte was sent.
    Task<size_t> sendfile_native(int file, uint64_t offset, size_t count);
    /// Resolves once the write buffer holds at most `limit` bytes; fails with the connection's
    /// error if it is lost first. One waiter at a time (a transfer holds transfer_busy()).
    Future<void> wait_write_buffer_at_most(size_t limit);
    /// One transfer at a time per connection: sendfile's own guard, shared by both paths.
    [[nodiscard]] bool transfer_busy() const noexcept { return transfer_busy_; }
    void set_transfer_busy(bool busy) noexcept { transfer_busy_ = busy; }

private:
    std::shared_ptr<SocketTransport> self() { return std::static_pointer_cast<SocketTransport>(shared_from_this()); }
    void watch_read();
    void unwatch_read() noexcept;
    void watch_write();
    void unwatch_write() noexcept;
    void on_readable();
    void on_writable();
    // Sends up to `n` bytes of wbuf_ from woff_ and advances woff_; -1 when nothing was sent
    // (EAGAIN, or a fatal error already handled: check conn_lost_).
    ssize_t send_buffered(size_t n);
    void read_eof();
    // Everything written has been sent: finishes a close() or write_eof() that waited for it.
    void output_drained();
    void fatal_error(std::exception_ptr exc, const char* message);
    void fatal_errno(int err, const char* op);
    void force_close(std::exception_ptr exc);
    void call_connection_lost(std::exception_ptr exc) noexcept;
    void maybe_pause_protocol();
    void maybe_resume_protocol();
    enum class Step { again, done, failed };
    Step sendfile_step();
    // Resolves the transfer's future (if a task awaits it) and forgets the transfer.
    void finish_sendfile(Step step);
    // A cancelled transfer: what on_writable would have done once it ended.
    void abandon_sendfile() noexcept;
    void notify_buffer_waiter() noexcept;
    void fail_waiters(std::exception_ptr exc) noexcept;
    [[nodiscard]] bool output_idle() const noexcept { return get_write_buffer_size() == 0 && !sf_; }

    // --- completion-based I/O (the loop's completion_io(): io_uring) ---------------------------
    // The socket is read by one multishot receive, armed while the transport reads, and written
    // by one send at a time from inflight_, which nothing else touches until it completes; what
    // write() adds meanwhile waits in wbuf_ and is swapped in next.
    void arm_recv();
    void on_recv(int res, std::string_view data, bool more) noexcept;
    void on_sent(int res) noexcept;
    void start_send(std::string_view data);
    void deliver_held() noexcept;
    // After connection_lost: closes the socket and lets go of ourselves, once the kernel holds
    // no operation of ours (their completions come back here).
    void release_socket() noexcept;
    struct RecvOp final : IoOperation {
        SocketTransport* owner = nullptr;
        void io_complete(int res, std::string_view data, bool more) noexcept override { owner->on_recv(res, data, more); }
    };
    struct SendOp final : IoOperation {
        SocketTransport* owner = nullptr;
        void io_complete(int res, std::string_view, bool) noexcept override { owner->on_sent(res); }
    };

    static void on_loop_close(CloseHook* h) noexcept;
    struct Hook : CloseHook {
        SocketTransport* owner = nullptr;
    };

    EventLoop* loop_;
    int fd_;
    // An open transport keeps itself alive (a protocol may hold it by raw pointer, and nothing
    // else owns a paused one) until connection_lost has run, or the loop closes (hook_).
    std::shared_ptr<SocketTransport> self_;
    Hook hook_;
    std::shared_ptr<Protocol> protocol_;
    std::shared_ptr<ServerState> server_;
    std::string wbuf_;
    size_t woff_ = 0;
    size_t high_ = 64 * 1024;
    size_t low_ = 16 * 1024;
    bool closing_ = false;
    bool paused_ = false;          // pause_reading() by the user
    bool reading_ = false;         // reader registered with the loop
    bool writing_ = false;         // writer registered with the loop
    bool eof_requested_ = false;   // write_eof() called
    bool eof_sent_ = false;
    bool read_eof_ = false;        // the peer's EOF was seen
    bool protocol_paused_ = false;
    bool conn_lost_ = false;       // connection_lost is scheduled or done
    bool transfer_busy_ = false;
    bool ring_ = false;            // completion-based I/O
    bool lost_done_ = false;       // call_connection_lost ran (release_socket may still wait)
    bool held_eof_ = false;        // the peer's EOF came while not reading
    bool held_scheduled_ = false;  // deliver_held is queued
    RecvOp recv_op_;
    SendOp send_op_;
    std::string inflight_;         // the bytes send_op_ is sending
    size_t ioff_ = 0;
    std::string held_;             // received while not reading: handed over when reading resumes

    // A sendfile(2) transfer in progress: it owns the socket's output until it ends; write()s
    // meanwhile queue in wbuf_ behind it.
    struct SendfileOp {
        // User-provided: clang 14 cannot use the member initialisers of a nested class from
        // inside its enclosing class (sf_.emplace()) otherwise.
        SendfileOp() noexcept {}
        size_t before = 0;  // bytes at the front of wbuf_ written before the transfer began
        int file = -1;
        off_t offset = 0;
        size_t remaining = 0;
        size_t sent = 0;
        int err = 0;
        Future<size_t> done;  // empty while the first attempt runs inside sendfile_native
    };
    std::optional<SendfileOp> sf_;
    Future<void> buffer_waiter_;
    size_t buffer_waiter_limit_ = 0;
};

}  // namespace aio::detail
