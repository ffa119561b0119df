// libFuzzer target: arbitrary bytes sent to the HTTP server, end to end. One loop, app, runner
// and loopback site serve the whole process; each input is one connection that writes the bytes
// (in one write or two), half-closes and reads until the server closes.
//
// Beyond the sanitizers, it checks what the server answered:
//   - the server ends the connection within a bounded time, and the runner forgets it;
//   - the output is a well-formed sequence of HTTP/1.1 responses (parsed by the client's parser),
//     no more of them than requests in the input (plus one for a request it could not parse),
//     nothing after a response that said "Connection: close", and no body after a HEAD's.
#include <aio/aio.hpp>
#include <aio/http/web_app.hpp>
#include <aio/http/web_runner.hpp>

#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "parser.hpp"

using namespace std::chrono_literals;
namespace http = aio::http;
using http::detail::MessageHead;
using http::detail::Parser;
using http::detail::ParserLimits;
using http::detail::ParserSink;

namespace {

[[noreturn]] void finding(const char* what, std::string_view input, std::string_view output) {
    std::fprintf(stderr,
                 "\n*** fuzz_server_request: %s\n--- input (%zu bytes) ---\n%.*s\n--- output (%zu bytes) ---\n%.*s\n",
                 what, input.size(), static_cast<int>(input.size()), input.data(), output.size(),
                 static_cast<int>(output.size()), output.data());
    std::abort();
}

http::ServerConfig server_config() {
    http::ServerConfig c;
    // Short, so that a connection the server forgets to close shows up as a hang of the input,
    // and small, so that short inputs reach the limits.
    c.header_timeout = 50ms;
    c.keepalive_timeout = 50ms;
    c.shutdown_timeout = 50ms;
    c.max_line_size = 256;
    c.max_field_size = 256;
    c.max_headers = 16;
    c.max_headers_size = 1024;
    c.max_pipelined = 4;
    c.access_log = [](std::string_view) {};
    return c;
}

ParserLimits limits_of(const http::ServerConfig& c) {
    ParserLimits l;
    l.max_line_size = c.max_line_size;
    l.max_field_size = c.max_field_size;
    l.max_headers = c.max_headers;
    l.max_headers_size = c.max_headers_size;
    return l;
}

struct Server {
    std::unique_ptr<aio::EventLoop> loop = aio::new_event_loop();
    http::Application app{[] {
        http::ApplicationOptions o;
        o.client_max_size = 512;
        return o;
    }()};
    std::unique_ptr<http::AppRunner> runner;
    std::unique_ptr<http::TCPSite> site;
    uint16_t port = 0;

    Server() {
        // Handlers whose client left mid-response report it here: expected, and noise.
        loop->set_exception_handler([](aio::EventLoop&, const aio::ExceptionContext&) {});
        aio::set_log_handler([](aio::LogLevel, std::string_view) {});
        auto& r = app.router();
        r.add_get("/", [](http::Request) -> aio::Task<http::Response> { co_return http::Response("hello"); });
        r.add_post("/echo", [](http::Request req) -> aio::Task<http::Response> {
            std::string body = co_await req.read();
            co_return http::Response("got " + std::to_string(body.size()) + ": " + body);
        });
        r.add_get("/u/{name}/{tail:.*}", [](http::Request req) -> aio::Task<http::Response> {
            co_return http::Response(req.match_info()["name"] + "|" + req.match_info()["tail"]);
        });
        r.add_get("/stream", [](http::Request req) -> aio::Task<http::Response> {
            http::StreamResponse resp;
            co_await resp.prepare(req);
            co_await resp.write("one,");
            co_await resp.write("two");
            co_await resp.write_eof();
            co_return resp;
        });
        r.add_route("*", "/any", [](http::Request) -> aio::Task<http::Response> { co_return http::Response(); });
        loop->run_until_complete(start());
    }

    aio::Task<void> start() {
        runner = std::make_unique<http::AppRunner>(app, server_config());
        co_await runner->setup();
        site = std::make_unique<http::TCPSite>(*runner, "127.0.0.1", 0);
        co_await site->start();
        port = site->port();
    }
};

// The requests of the input as the server's parser sees them: the methods, in order.
class RequestLog : public ParserSink {
public:
    std::vector<std::string> methods;
    Body on_head(MessageHead& head) override {
        methods.push_back(head.method);
        return Body::read;
    }
    void on_body(std::string_view) override {}
    void on_message_complete() override {}
};

std::vector<std::string> requests_in(std::string_view input, const ParserLimits& limits) {
    RequestLog log;
    Parser p(Parser::Kind::request, log, limits);
    try {
        // As the server does: after an upgrade request, what follows is parsed as HTTP again.
        while (!input.empty()) {
            size_t used = p.feed(input);
            if (p.upgraded()) p.resume_after_upgrade();
            if (used == 0) break;
            input.remove_prefix(used);
        }
        p.feed_eof();
    } catch (const http::BadHttpMessage&) {
    }
    return log.methods;
}

// Pairs each final response with the request it answers.
class ResponseCheck : public ParserSink {
public:
    const std::vector<std::string>& methods;
    std::string_view input, output;
    size_t finals = 0;
    explicit ResponseCheck(const std::vector<std::string>& m, std::string_view in, std::string_view out)
        : methods(m), input(in), output(out) {}

    Body on_head(MessageHead& head) override {
        if (head.version_major != 1 || head.version_minor != 1)
            finding("a response that is not HTTP/1.1", input, output);
        if (head.status < 100 || head.status > 599) finding("a status outside 100-599", input, output);
        if (head.status < 200) return Body::none;  // 100 Continue: the real response follows
        size_t i = finals++;
        // One more than the requests: the error answer to a request the parser rejected.
        if (i > methods.size()) finding("more responses than requests", input, output);
        bool head_request = i < methods.size() && methods[i] == "HEAD";
        // A HEAD the server refused gets an error body; one it answered gets none: with the
        // connection closing after it either way, checking stops here.
        if (head_request && !head.keep_alive) return Body::stop;
        return head_request ? Body::none : Body::read;
    }
    void on_body(std::string_view) override {}
    void on_message_complete() override {}
};

void check_output(std::string_view input, std::string_view output, bool clean_eof) {
    if (output.empty()) return;
    if (output.size() < 13 || output.substr(0, 9) != "HTTP/1.1 " ||
        !std::isdigit(static_cast<unsigned char>(output[9])) || !std::isdigit(static_cast<unsigned char>(output[10])) ||
        !std::isdigit(static_cast<unsigned char>(output[11])) || output[12] != ' ')
        finding("the output does not start with a status line", input, output);
    static const ParserLimits limits = limits_of(server_config());
    std::vector<std::string> methods = requests_in(input, limits);
    ResponseCheck check(methods, input, output);
    // The server writes what it wants: no limits on its heads but the defaults.
    Parser p(Parser::Kind::response, check);
    try {
        p.feed(output);
        // After a reset the last response may be cut short: only a clean close ends one.
        if (!p.failed() && clean_eof) p.feed_eof();
    } catch (const http::BadHttpMessage& e) {
        finding(e.what(), input, output);
    }
}

aio::Task<std::string> read_all(aio::StreamReader r, bool& clean_eof) {
    std::string out;
    for (;;) {
        std::string chunk;
        try {
            chunk = co_await r.read(65536);
        } catch (const std::system_error&) {
            // ECONNRESET: the server closed with input unread, as it may after an error.
            clean_eof = false;
            co_return out;
        }
        if (chunk.empty()) co_return out;
        out += chunk;
    }
}

aio::Task<void> exchange(Server& s, std::string_view input) {
    auto [r, w] = co_await aio::open_connection("127.0.0.1", s.port);
    bool clean_eof = true;
    auto reader = aio::create_task(read_all(r, clean_eof));
    // Where the bytes are split depends on all of them, so that every split point can come up
    // and an input always replays the same way. A quarter of the inputs go in one write.
    uint32_t h = 2166136261u;
    for (unsigned char c : input)
        h = (h ^ c) * 16777619u;
    size_t split = h % 4 == 0 ? input.size() : (h >> 2) % (input.size() + 1);
    w.write(input.substr(0, split));
    co_await w.drain();
    if (split < input.size()) {
        // Two loop iterations: the server reads the first piece on its own.
        co_await aio::sleep(0ms);
        co_await aio::sleep(0ms);
        w.write(input.substr(split));
    }
    w.write_eof();
    co_await w.drain();
    std::string output;
    try {
        output = co_await aio::wait_for(reader, 2s);
    } catch (const aio::TimeoutError&) {
        finding("the server did not close the connection within 2 s", input, "");
    }
    w.close();
    check_output(input, output, clean_eof);
    // The server's side goes away once it has seen the close; give it a bounded while.
    for (int i = 0; i < 2000 && s.runner->connections() != 0; ++i)
        co_await aio::sleep(1ms);
    if (s.runner->connections() != 0)
        finding("the runner still counts the connection 2 s after it closed", input, output);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // Deliberately never destroyed: it lives as long as the process, as libFuzzer's loop does.
    static Server* server = new Server();
    std::string_view input(reinterpret_cast<const char*>(data), size);
    server->loop->run_until_complete(exchange(*server, input));
    return 0;
}
