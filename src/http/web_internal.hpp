// What the server's pieces share: the state behind a Request, the router's tables, the runner's
// registry of connections. Private to src/http.
#pragma once

#include <cstdint>
#include <ctime>
#include <deque>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "aio/core/handle.hpp"
#include "aio/http/web_app.hpp"
#include "aio/http/web_runner.hpp"
#include "aio/net/transport.hpp"
#include "aio/sync/event.hpp"
#include "parser.hpp"

namespace aio::http::detail {

class ServerConnection;

/// What takes a connection over after a 101 answer (a WebSocket): from then on it gets the
/// connection's input and events instead of the HTTP parser. Called on the loop thread.
class UpgradeSink {
public:
    virtual ~UpgradeSink() = default;
    virtual void on_data(std::string_view data) = 0;
    virtual void on_eof() = 0;
    virtual void on_lost() = 0;
    /// The transport's write buffer went below its low-water mark.
    virtual void on_writable() = 0;
    /// The server is shutting down gracefully.
    virtual void on_shutdown() = 0;
    /// The handler returned (`failed`: with an exception): what it left open is closed.
    virtual void on_handler_done(bool failed) = 0;
};

/// A prepared StreamResponse's progress, kept on the request so that the connection can end
/// the body if the handler did not, and knows whether the connection can be kept.
struct StreamProgress {
    bool prepared = false;
    bool chunked = false;
    bool head_only = false;
    bool eof = false;
    std::optional<uint64_t> content_length;
    uint64_t written = 0;
    int status = 0;
};

struct RequestState {
    MessageHead head;
    std::string path;            // percent-decoded
    std::string match_path;      // decoded except %2F, when the path had escapes; else empty (match `path`)
    size_t query_pos = std::string::npos;  // '?' in head.target
    MatchInfo match_info;
    std::optional<StreamReader> content;   // requests with a body
    std::optional<std::string> body_cache; // read() keeps the bytes
    Application* app = nullptr;
    ServerConnection* conn = nullptr;      // while the handler runs
    SockAddr peer;
    bool secure = false;
    bool has_body = false;
    bool expect_continue = false;
    bool complete = false;                 // the whole message was parsed
    int error_status = 0;                  // a request that failed to parse: answer this and close
    std::string error_message;
    int route_status = 0;                  // 404 / 405 when no route answered
    std::vector<std::string> allowed;      // for 405
    StreamProgress stream;
    int64_t started_ns = 0;
};

/// Decodes %XX in a path; `keep_slash` leaves %2F encoded (route matching). Throws
/// HTTPBadRequest for a malformed escape or a NUL byte.
std::string decode_path(std::string_view raw, bool keep_slash);

struct Route {
    std::string method;
    Handler handler;
    Handler composed;  // with the middlewares (after freeze)
};

struct Resource {
    std::string pattern;
    bool dynamic = false;
    std::regex re;
    std::vector<std::string> names;
    std::vector<Route> routes;
};

struct RouterImpl {
    std::vector<std::unique_ptr<Resource>> resources;  // in the order added
    std::unordered_map<std::string, size_t> plain;     // a literal path -> its resource's index
    size_t first_dynamic = SIZE_MAX;                    // the index of the first {pattern} resource
    const bool* frozen = nullptr;
    Handler not_found;                                  // composed 404 / 405 thrower

    Resource& resource_for(const std::string& pattern);
    /// The composed handler for the request, with match_info filled in; null if none (then
    /// route_status and allowed are set).
    const Handler* resolve(RequestState& req) const;
};

/// One application's server side: its config, its live connections.
struct RunnerState {
    Application* app = nullptr;
    ServerConfig config;
    ParserLimits limits;
    std::unordered_set<ServerConnection*> connections;
    Event all_closed;  // set while `connections` is empty
    bool shutting_down = false;
    std::vector<SockAddr> addresses;
    int64_t date_line_second = -1;  // the second these lines were built for
    int64_t date_line_until = 0;    // loop clock (cached) at which that second may have ended
    // "HTTP/1.1 200 OK\r\nContent-Type: <type>\r\nContent-Length: " per implicit content type
    // (string literals, told apart by address).
    std::vector<std::pair<const char*, std::string>> ok_prefixes;
    const std::string& ok_prefix(std::string_view type) {
        for (const auto& [key, text] : ok_prefixes)
            if (key == type.data()) return text;
        ok_prefixes.emplace_back(type.data(),
                                 "HTTP/1.1 200 OK\r\nContent-Type: " + std::string(type) + "\r\nContent-Length: ");
        return ok_prefixes.back().second;
    }
    std::string date_line;       // "Date: ...\r\nServer: ...\r\n"

    void add(ServerConnection* c);
    void remove(ServerConnection* c) noexcept;
};

/// The protocol of one server connection: llhttp parses what arrives into a queue of requests,
/// one task answers them in order (pipelining), writing each response as one buffer.
class ServerConnection final : public Protocol,
                               public ParserSink,
                               public FlowControl,
                               public std::enable_shared_from_this<ServerConnection> {
public:
    ServerConnection(std::shared_ptr<RunnerState> runner, bool secure);
    ~ServerConnection() override;

    void connection_made(Transport& transport) override;
    void data_received(std::string_view data) override;
    bool eof_received() override;
    void connection_lost(std::exception_ptr exc) override;
    void pause_writing() override;
    void resume_writing() override;

    MessageHead* begin_message() override;
    Body on_head(MessageHead& head) override;
    void on_body(std::string_view chunk) override;
    void on_message_complete() override;

    void pause_reading() noexcept override;
    void resume_reading() noexcept override;

    /// StreamResponse's way out: queues `data` after any response already queued.
    void write(std::string_view data);
    /// Sends what is queued and waits while the socket's buffer is full. Throws
    /// std::system_error(ECONNRESET) once the client is gone.
    Task<void> drain();
    [[nodiscard]] bool lost() const noexcept { return lost_; }
    /// write() and send at once (control frames of a WebSocket, outside any drain).
    void send_now(std::string_view data) {
        write(data);
        flush();
    }
    [[nodiscard]] bool writable() const noexcept { return writable_.is_set(); }
    [[nodiscard]] EventLoop& loop() const noexcept { return *loop_; }
    /// True while `req` is the upgrade request the parser stopped at: its handler decides
    /// whether the bytes after it are another protocol's (take_over) or HTTP again.
    [[nodiscard]] bool upgrade_held_for(const RequestState& req) const noexcept {
        return upgrade_held_ && held_req_ == &req;
    }
    /// After a 101: `sink` gets the connection's bytes (those already read first) and events;
    /// the HTTP side neither parses nor answers anything more on it.
    void take_over(std::shared_ptr<UpgradeSink> sink);
    /// The upgraded protocol's own flow control on reading.
    void pause_upgraded_reading(bool pause) noexcept {
        upgraded_paused_ = pause;
        update_reading();
    }
    /// Closes the transport after what is queued (abort: at once, dropping it).
    void close_transport(bool abort_now);
    /// Graceful shutdown: close now if idle, else after the response in progress.
    void begin_shutdown();
    /// Cut off: cancel the handler, close the socket.
    void abort();

private:
    static Task<void> run(std::shared_ptr<ServerConnection> self);
    void respond(RequestState& req, Response& resp, std::exception_ptr failure);
    [[nodiscard]] bool keep_alive_for(const RequestState& req, const Response& resp) const noexcept;
    /// A FileResponse: the head, then the bytes with aio::sendfile (or an error answer).
    Task<void> send_file(RequestState& req, Response& resp);
    /// `file_length`: the body is that many bytes of a file, sent apart (not resp.body()).
    void serialize(const Response& resp, RequestState& req, bool keep_alive,
                   std::optional<uint64_t> file_length = std::nullopt);
    void finish_stream(RequestState& req);
    void write_error(int status, std::string_view message);
    void reject(int status, const std::string& message);
    void flush();
    std::string_view date_and_server();
    /// Closes after what is queued is sent, lingering when the client may still be sending.
    void close_connection();
    void update_reading() noexcept;
    [[nodiscard]] bool busy() const noexcept { return current_ || !queue_.empty(); }
    void set_deadline(int64_t when_ns);
    void on_timer() noexcept;
    void release(RequestState& req) noexcept;
    void recycle(std::shared_ptr<RequestState>&& req) noexcept;
    void log_access(const RequestState& req, int status, uint64_t bytes) {
        if (runner_->config.access_log) write_access_log(req, status, bytes);
    }
    void write_access_log(const RequestState& req, int status, uint64_t bytes);

    std::shared_ptr<RunnerState> runner_;
    // Not owned: the transport owns us, and outlives us until connection_lost (after which we
    // never touch it). A shared_ptr here would be a cycle that a closing loop cannot break.
    Transport* transport_ = nullptr;
    EventLoop* loop_ = nullptr;
    SockAddr peer_;
    Parser parser_;
    std::deque<std::shared_ptr<RequestState>> queue_;
    std::shared_ptr<RequestState> parsing_;  // the request whose body is arriving
    std::shared_ptr<RequestState> current_;  // the request being answered
    std::shared_ptr<RequestState> spare_;    // a finished one, kept for its capacity
    std::shared_ptr<RequestState> incoming_; // the one whose head the parser is filling
    Event wake_;      // set when queue_ gains a request or the connection ends
    Event writable_;  // clear while the transport asked us to stop writing
    std::string out_;
    uint64_t body_bytes_ = 0;
    TimerHandle timer_;
    TimerHandle linger_timer_;
    uint64_t lingered_bytes_ = 0;
    bool lingering_ = false;
    int64_t timer_when_ = 0;
    int64_t deadline_ = 0;
    int64_t head_started_ = 0;
    int body_pauses_ = 0;
    bool secure_;
    bool registered_ = false;
    bool reading_paused_ = false;
    bool lost_ = false;
    bool eof_ = false;
    bool stop_reading_ = false;  // after a request we will not read past
    bool closing_ = false;       // graceful shutdown, or a response that ends the connection
    bool upgrade_held_ = false;  // the parser stopped after an upgrade request: reading paused
    bool upgraded_paused_ = false;
    const RequestState* held_req_ = nullptr;  // that request (compared, never dereferenced)
    std::string held_bytes_;                  // what followed it in the same read
    std::shared_ptr<UpgradeSink> upgraded_;   // after a 101: the connection's new owner of input
    TaskRef task_;
};

/// The response an HTTPException stands for.
Response exception_response(const HTTPException& e);

/// The server's view of a Response's private parts.
struct ResponseAccess {
    static const std::shared_ptr<FileSource>& file(const Response& r) noexcept { return r.file_; }
    static const std::string& given_reason(const Response& r) noexcept { return r.reason_; }
    static void set_file(Response& r, std::shared_ptr<FileSource> f) noexcept { r.file_ = std::move(f); }
};

/// What a FileResponse names: a path opened when the response is sent, or a descriptor opened
/// already (add_static opens beneath its root). Owns the descriptor.
struct FileSource {
    std::string path;
    int fd = -1;
    FileSource() = default;
    FileSource(const FileSource&) = delete;
    FileSource& operator=(const FileSource&) = delete;
    ~FileSource();
};

/// A FileResponse weighed against its request: either an answer without the file (304, 412,
/// 416: `head` carries status, headers and body) or `head` plus the byte range to send.
struct FilePlan {
    Response head;
    std::shared_ptr<FileSource> open;  // the opened file, when bytes of it are to be sent
    uint64_t offset = 0;
    uint64_t length = 0;
};

/// Opens (if needed) and stats the file, and applies the request's conditional and Range
/// headers. Throws HTTPNotFound / HTTPForbidden.
FilePlan plan_file(const Response& resp, const RequestState& req);

/// "Sun, 06 Nov 1994 08:49:37 GMT" for now, formatted at most once a second per thread.
std::string_view http_date_now();
/// "Sun, 06 Nov 1994 08:49:37 GMT" for `t` (RFC 9110's IMF-fixdate).
std::string format_http_date(time_t t);

}  // namespace aio::http::detail
