// libFuzzer target: arbitrary bytes as an HTTP response stream, through the parser the client
// reads responses with (detail::Parser in response mode). The bytes are fed in two pieces split
// where the input says, then the close; they are also fed in one piece, and both ways must report
// exactly the same messages: a split is the network's choice, never the parser's.
//
// BadHttpMessage is the parser's answer to a bad response. Anything else thrown, a crash, a
// sanitizer report, a leak or a difference between the two ways is a finding.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "parser.hpp"

using aio::http::BadHttpMessage;
using aio::http::detail::MessageHead;
using aio::http::detail::Parser;
using aio::http::detail::ParserSink;

namespace {

struct Message {
    MessageHead head;
    std::string body;
    int completes = 0;
};

class Recorder : public ParserSink {
public:
    explicit Recorder(bool head_request) : head_request_(head_request) {}
    std::vector<Message> messages;
    bool misordered = false;

    Body on_head(MessageHead& head) override {
        messages.push_back(Message{head, {}, 0});
        // As the client does: a 1xx is followed by the real response; a HEAD's has no body.
        if (head.status < 200 && head.status != 101) return Body::none;
        return head_request_ ? Body::none : Body::read;
    }
    void on_body(std::string_view chunk) override {
        if (messages.empty() || messages.back().completes)
            misordered = true;
        else
            messages.back().body.append(chunk);
    }
    void on_message_complete() override {
        if (messages.empty() || messages.back().completes)
            misordered = true;
        else
            ++messages.back().completes;
    }

private:
    bool head_request_;
};

struct Result {
    std::vector<Message> messages;
    bool misordered = false;
    int error_status = 0;
};

Result parse(const std::vector<std::string_view>& pieces, bool head_request) {
    Recorder sink(head_request);
    Parser parser(Parser::Kind::response, sink);
    Result r;
    try {
        for (std::string_view piece : pieces) {
            // The bytes after a 101 are another protocol's; the client does not speak any, so
            // parse them as HTTP again, which reaches more of the parser.
            while (!piece.empty()) {
                size_t used = parser.feed(piece);
                if (parser.upgraded()) parser.resume_after_upgrade();
                if (used == 0 || parser.failed()) break;
                piece.remove_prefix(used);
            }
        }
        if (!parser.failed()) parser.feed_eof();
    } catch (const BadHttpMessage& e) {
        r.error_status = e.status();
        if (r.error_status < 400 || r.error_status > 599) std::abort();
    }
    r.messages = std::move(sink.messages);
    r.misordered = sink.misordered;
    return r;
}

bool same(const Result& a, const Result& b) {
    if (a.error_status != b.error_status || a.misordered != b.misordered || a.messages.size() != b.messages.size())
        return false;
    for (size_t i = 0; i < a.messages.size(); ++i) {
        const Message& x = a.messages[i];
        const Message& y = b.messages[i];
        if (x.body != y.body || x.completes != y.completes) return false;
        const MessageHead& h = x.head;
        const MessageHead& k = y.head;
        if (h.status != k.status || h.reason != k.reason || h.version_major != k.version_major ||
            h.version_minor != k.version_minor || !(h.headers == k.headers) || h.keep_alive != k.keep_alive ||
            h.chunked != k.chunked || h.upgrade != k.upgrade || h.content_length != k.content_length)
            return false;
    }
    return true;
}

[[noreturn]] void finding(const char* what, size_t split) {
    std::fprintf(stderr, "\n*** fuzz_client_response: %s (split at %zu)\n", what, split);
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    uint32_t h = 2166136261u;
    for (unsigned char c : input)
        h = (h ^ c) * 16777619u;
    const size_t split = h % (size + 1);
    // One input in eight is read as the answer to a HEAD.
    const bool head_request = (h >> 24) % 8 == 0;

    Result split_result = parse({input.substr(0, split), input.substr(split)}, head_request);
    Result whole = parse({input}, head_request);
    if (!same(split_result, whole)) finding("a split changed what the parser reported", split);
    if (whole.misordered) finding("a body piece or a completion outside a message", split);
    for (const Message& m : whole.messages) {
        if (m.completes > 1) finding("a message completed twice", split);
        // A complete body framed by Content-Length has exactly that many bytes (204 and 304 have
        // none whatever it says).
        const int st = m.head.status;
        if (m.completes && !head_request && !m.head.chunked && !m.head.upgrade && m.head.content_length && st >= 200 &&
            st != 204 && st != 304 && m.body.size() != *m.head.content_length)
            finding("a complete body whose size is not its Content-Length", split);
    }
    return 0;
}
