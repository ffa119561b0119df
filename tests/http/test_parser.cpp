// detail::Parser (src/http/parser.hpp) on its own: what a request and a response parse into,
// bodies and pipelining, that where the bytes are split between feed() calls never changes the
// result (obs-fold included), the size limits and their statuses, HEAD responses, bodies ended
// by the close, request smuggling, and exceptions thrown by the sink.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "parser.hpp"

using aio::http::BadHttpMessage;
using aio::http::Headers;
using aio::http::detail::MessageHead;
using aio::http::detail::Parser;
using aio::http::detail::ParserLimits;
using aio::http::detail::ParserSink;
using Kind = Parser::Kind;
using Body = ParserSink::Body;

namespace {

struct Message {
    MessageHead head;
    std::string body;
    int completes = 0;
};

// Keeps every callback's data. A body piece or a completion without a head before it is
// recorded as a protocol violation of the parser, not dropped.
class Recorder : public ParserSink {
public:
    std::vector<Message> messages;
    std::vector<std::string> violations;
    std::function<Body(const MessageHead&)> policy;

    Body on_head(MessageHead& head) override {
        messages.push_back(Message{head, {}, 0});
        return policy ? policy(head) : Body::read;
    }
    void on_body(std::string_view chunk) override {
        if (messages.empty() || messages.back().completes)
            violations.push_back("body outside a message");
        else
            messages.back().body.append(chunk);
    }
    void on_message_complete() override {
        if (messages.empty() || messages.back().completes)
            violations.push_back("completion outside a message");
        else
            ++messages.back().completes;
    }
};

struct Outcome {
    std::vector<Message> messages;
    std::vector<std::string> violations;
    int error_status = 0;  // the BadHttpMessage's status; 0 when none was thrown
    std::string error;
};

struct Options {
    ParserLimits limits;
    std::function<Body(const MessageHead&)> policy;
    bool eof = false;  // feed_eof() after the last piece
};

Outcome parse(Kind kind, const std::vector<std::string_view>& pieces, const Options& o = {}) {
    Recorder sink;
    sink.policy = o.policy;
    Parser parser(kind, sink, o.limits);
    Outcome out;
    try {
        for (std::string_view piece : pieces)
            EXPECT_EQ(parser.feed(piece), piece.size());
        if (o.eof) parser.feed_eof();
    } catch (const BadHttpMessage& e) {
        out.error_status = e.status();
        out.error = e.what();
        EXPECT_TRUE(parser.failed());
    }
    out.messages = std::move(sink.messages);
    out.violations = std::move(sink.violations);
    return out;
}

Outcome parse_whole(Kind kind, std::string_view bytes, const Options& o = {}) { return parse(kind, {bytes}, o); }

// Everything the parser reported, as text: two outcomes are equal when their dumps are, and a
// mismatch shows where.
std::string dump(const Outcome& r) {
    std::ostringstream s;
    for (const Message& m : r.messages) {
        const MessageHead& h = m.head;
        s << "[" << h.method << " " << h.target << " " << h.status << " " << h.reason << " HTTP/" << h.version_major
          << "." << h.version_minor << " keep_alive=" << h.keep_alive << " chunked=" << h.chunked
          << " upgrade=" << h.upgrade << " length=" << (h.content_length ? std::to_string(*h.content_length) : "-")
          << "\n";
        for (const auto& [name, value] : h.headers)
            s << "  " << name << ": " << value << "\n";
        s << "  body(" << m.body.size() << ")=" << m.body << "\n  completes=" << m.completes << "]\n";
    }
    for (const std::string& v : r.violations)
        s << "violation: " << v << "\n";
    s << "error=" << r.error_status << "\n";
    return s.str();
}

// Parses `bytes` in one piece, then split at every position, then byte by byte: every way must
// report exactly what the one piece did. Returns the one-piece outcome.
Outcome parse_every_split(Kind kind, std::string_view bytes, const Options& o = {}) {
    Outcome whole = parse_whole(kind, bytes, o);
    const std::string expected = dump(whole);
    for (size_t k = 0; k <= bytes.size(); ++k) {
        Outcome split = parse(kind, {bytes.substr(0, k), bytes.substr(k)}, o);
        EXPECT_EQ(dump(split), expected) << "split at " << k << " of:\n" << bytes;
        if (dump(split) != expected) break;  // one report per sample is enough
    }
    std::vector<std::string_view> bytewise;
    for (size_t i = 0; i < bytes.size(); ++i)
        bytewise.push_back(bytes.substr(i, 1));
    EXPECT_EQ(dump(parse(kind, bytewise, o)), expected) << "byte by byte:\n" << bytes;
    return whole;
}

Options with_limits(ParserLimits l) {
    Options o;
    o.limits = l;
    return o;
}

}  // namespace

TEST(Parser, ARequestParsesIntoItsHead) {
    Outcome r = parse_every_split(Kind::request,
                                  "POST /upload?x=1&y=%20 HTTP/1.1\r\n"
                                  "Host: example.com\r\n"
                                  "X-Dup: 1\r\n"
                                  "Content-Length: 5\r\n"
                                  "x-dup:  two words\r\n"
                                  "\r\n"
                                  "hello");
    ASSERT_EQ(r.error_status, 0) << r.error;
    ASSERT_EQ(r.messages.size(), 1u);
    const MessageHead& h = r.messages[0].head;
    EXPECT_EQ(h.method, "POST");
    EXPECT_EQ(h.target, "/upload?x=1&y=%20");
    EXPECT_EQ(h.version_major, 1);
    EXPECT_EQ(h.version_minor, 1);
    // In order, names as sent, repeats kept, the whitespace before a value dropped.
    Headers expected{{"Host", "example.com"}, {"X-Dup", "1"}, {"Content-Length", "5"}, {"x-dup", "two words"}};
    EXPECT_EQ(h.headers, expected) << dump(r);
    EXPECT_TRUE(h.keep_alive);
    EXPECT_FALSE(h.chunked);
    EXPECT_FALSE(h.upgrade);
    EXPECT_EQ(h.content_length, std::optional<uint64_t>(5));
    EXPECT_EQ(r.messages[0].body, "hello");
    EXPECT_EQ(r.messages[0].completes, 1);
}

TEST(Parser, KeepAliveFollowsTheVersionAndTheConnectionHeader) {
    Outcome r = parse_whole(Kind::request, "GET /a HTTP/1.0\r\n\r\n");
    ASSERT_EQ(r.messages.size(), 1u) << dump(r);
    EXPECT_EQ(r.messages[0].head.version_minor, 0);
    EXPECT_FALSE(r.messages[0].head.keep_alive);

    r = parse_whole(Kind::request, "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    ASSERT_EQ(r.messages.size(), 1u) << dump(r);
    EXPECT_TRUE(r.messages[0].head.keep_alive);

    r = parse_whole(Kind::request, "GET /a HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    ASSERT_EQ(r.messages.size(), 1u) << dump(r);
    EXPECT_FALSE(r.messages[0].head.keep_alive);
    EXPECT_EQ(r.messages[0].completes, 1);
}

TEST(Parser, AResponseParsesIntoItsHead) {
    Outcome r = parse_every_split(Kind::response,
                                  "HTTP/1.1 404 Not Found Here\r\n"
                                  "Content-Type: text/plain\r\n"
                                  "Set-Cookie: a=1\r\n"
                                  "Set-Cookie: b=2\r\n"
                                  "Content-Length: 3\r\n"
                                  "Connection: close\r\n"
                                  "\r\n"
                                  "abc");
    ASSERT_EQ(r.error_status, 0) << r.error;
    ASSERT_EQ(r.messages.size(), 1u);
    const MessageHead& h = r.messages[0].head;
    EXPECT_EQ(h.status, 404);
    EXPECT_EQ(h.reason, "Not Found Here");
    EXPECT_EQ(h.method, "");
    EXPECT_EQ(h.target, "");
    Headers expected{{"Content-Type", "text/plain"},
                     {"Set-Cookie", "a=1"},
                     {"Set-Cookie", "b=2"},
                     {"Content-Length", "3"},
                     {"Connection", "close"}};
    EXPECT_EQ(h.headers, expected) << dump(r);
    EXPECT_FALSE(h.keep_alive);
    EXPECT_FALSE(h.chunked);
    EXPECT_EQ(h.content_length, std::optional<uint64_t>(3));
    EXPECT_EQ(r.messages[0].body, "abc");
    EXPECT_EQ(r.messages[0].completes, 1);
}

TEST(Parser, AChunkedBodyArrivesWholeAndDecoded) {
    Outcome r = parse_every_split(Kind::request,
                                  "POST /c HTTP/1.1\r\n"
                                  "Host: t\r\n"
                                  "Transfer-Encoding: chunked\r\n"
                                  "\r\n"
                                  "5\r\nhello\r\n"
                                  "1;ext=1\r\n,\r\n"
                                  "6\r\n world\r\n"
                                  "0\r\n"
                                  "\r\n");
    ASSERT_EQ(r.error_status, 0) << r.error;
    ASSERT_EQ(r.messages.size(), 1u);
    EXPECT_TRUE(r.messages[0].head.chunked);
    EXPECT_FALSE(r.messages[0].head.content_length.has_value());
    EXPECT_EQ(r.messages[0].body, "hello, world");
    EXPECT_EQ(r.messages[0].completes, 1);

    Outcome resp = parse_every_split(Kind::response,
                                     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                     "a\r\n0123456789\r\n0\r\n\r\n");
    ASSERT_EQ(resp.messages.size(), 1u) << dump(resp);
    EXPECT_EQ(resp.messages[0].body, "0123456789");
    EXPECT_EQ(resp.messages[0].completes, 1);
}

TEST(Parser, AMessageIsNotCompleteBeforeItsLastByte) {
    const std::string bytes = "POST /c HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nabcd";
    Outcome r = parse_whole(Kind::request, std::string_view(bytes).substr(0, bytes.size() - 1));
    ASSERT_EQ(r.messages.size(), 1u);
    EXPECT_EQ(r.messages[0].body, "abc");
    EXPECT_EQ(r.messages[0].completes, 0);

    const std::string chunked =
        "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    r = parse_whole(Kind::request, std::string_view(chunked).substr(0, chunked.size() - 1));
    ASSERT_EQ(r.messages.size(), 1u);
    EXPECT_EQ(r.messages[0].body, "abc");
    EXPECT_EQ(r.messages[0].completes, 0);
}

TEST(Parser, PipelinedRequestsInOneFeedEachCompleteOnceInOrder) {
    Outcome r =
        parse_every_split(Kind::request,
                          "GET /one HTTP/1.1\r\nHost: t\r\n\r\n"
                          "POST /two HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
                          "PUT /three HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n"
                          "HEAD /four HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_EQ(r.error_status, 0) << r.error;
    ASSERT_EQ(r.messages.size(), 4u) << dump(r);
    const char* methods[] = {"GET", "POST", "PUT", "HEAD"};
    const char* targets[] = {"/one", "/two", "/three", "/four"};
    const char* bodies[] = {"", "abc", "xy", ""};
    for (size_t i = 0; i < 4; ++i) {
        EXPECT_EQ(r.messages[i].head.method, methods[i]);
        EXPECT_EQ(r.messages[i].head.target, targets[i]);
        EXPECT_EQ(r.messages[i].body, bodies[i]);
        EXPECT_EQ(r.messages[i].completes, 1) << i;
        // Each head starts afresh: nothing of the message before it is left over.
        EXPECT_EQ(r.messages[i].head.headers.size(), i == 0 || i == 3 ? 1u : 2u) << dump(r);
    }
    EXPECT_TRUE(r.violations.empty()) << dump(r);
}

TEST(Parser, PipelinedResponsesInOneFeed) {
    Outcome r = parse_every_split(Kind::response,
                                  "HTTP/1.1 100 Continue\r\n\r\n"
                                  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                                  "HTTP/1.1 204 No Content\r\n\r\n"
                                  "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n"
                                  "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n!\r\n0\r\n\r\n");
    ASSERT_EQ(r.error_status, 0) << r.error;
    ASSERT_EQ(r.messages.size(), 5u) << dump(r);
    const int statuses[] = {100, 200, 204, 304, 201};
    const char* bodies[] = {"", "ok", "", "", "!"};
    for (size_t i = 0; i < 5; ++i) {
        EXPECT_EQ(r.messages[i].head.status, statuses[i]);
        EXPECT_EQ(r.messages[i].body, bodies[i]) << i;
        EXPECT_EQ(r.messages[i].completes, 1) << i;
    }
}

// RFC 9112 6.3 rule 1: a 1xx, 204 or 304 response ends with its head whatever its headers say
// (a 304's Content-Length describes the representation it stands for). llhttp 8.1 only applies
// this when there is no Content-Length nor chunked coding; without the parser's own rule it would
// read a body that never comes, or take the next response as that body.
TEST(Parser, A1xx204Or304ResponseNeverHasABody) {
    Outcome r = parse_every_split(Kind::response,
                                  "HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n"
                                  "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"
                                  "HTTP/1.1 103 Early Hints\r\nContent-Length: 5\r\n\r\n"
                                  "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    ASSERT_EQ(r.error_status, 0) << r.error;
    ASSERT_EQ(r.messages.size(), 5u) << dump(r);
    for (size_t i = 0; i < 4; ++i) {
        EXPECT_EQ(r.messages[i].body, "") << i;
        EXPECT_EQ(r.messages[i].completes, 1) << i;
    }
    EXPECT_EQ(r.messages[4].body, "ok");
}

// RFC 9110 5.5: whitespace after the last visible character of a value is excluded by parsers,
// as whitespace before the first is. llhttp hands it over; kept, "Expect: 100-continue " or
// "Content-Encoding: gzip " would not be recognised.
TEST(Parser, TrailingWhitespaceIsNotPartOfAValue) {
    Outcome r = parse_every_split(Kind::request, "GET / HTTP/1.1\r\nHost: t \r\nExpect: 100-continue\t \r\n\r\n");
    ASSERT_EQ(r.error_status, 0) << r.error;
    ASSERT_EQ(r.messages.size(), 1u);
    EXPECT_EQ(r.messages[0].head.headers.get("Host"), std::optional<std::string_view>("t"));
    EXPECT_EQ(r.messages[0].head.headers.get("Expect"), std::optional<std::string_view>("100-continue"));
}

// RFC 9112 5.2: a line starting with whitespace continues the previous header (obs-fold). A
// server must reject it. The parser sees it only by the byte before a value, which may have come
// in an earlier feed(): every split must still reject it.
TEST(Parser, ObsFoldIsRejectedWith400WhereverTheBytesAreSplit) {
    const char* folded[] = {
        "GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n\tb\r\n\r\n",
        "GET / HTTP/1.1\r\nX: a\r\n  b\r\nHost: t\r\n\r\n",
    };
    for (const char* bytes : folded) {
        Outcome r = parse_every_split(Kind::request, bytes);
        EXPECT_EQ(r.error_status, 400) << bytes << "\n" << dump(r);
        EXPECT_TRUE(r.messages.empty()) << bytes << "\n" << dump(r);
    }
    Outcome resp = parse_every_split(Kind::response, "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(resp.error_status, 400) << dump(resp);
    EXPECT_TRUE(resp.messages.empty());
}

TEST(Parser, AValueWithSpacesSplitAcrossFeedsIsNotMistakenForObsFold) {
    const std::string bytes = "GET / HTTP/1.1\r\nHost: t\r\nX: a b\r\nY:  c\t d\r\n\r\n";
    Outcome r = parse_every_split(Kind::request, bytes);
    ASSERT_EQ(r.error_status, 0) << r.error;
    ASSERT_EQ(r.messages.size(), 1u);
    EXPECT_EQ(r.messages[0].head.headers.get("X"), std::optional<std::string_view>("a b"));
    EXPECT_EQ(r.messages[0].head.headers.get("Y"), std::optional<std::string_view>("c\t d"));
    EXPECT_EQ(r.messages[0].completes, 1);

    // The byte before a value at the start of a feed is the previous feed's last one: a feed
    // that ends in a line feed must not make the next value look folded.
    for (size_t k = 0; k <= bytes.size(); ++k) {
        Outcome split = parse(Kind::request, {std::string_view(bytes).substr(0, k), std::string_view(bytes).substr(k)});
        EXPECT_EQ(split.error_status, 0) << "split at " << k << ": " << split.error;
    }
}

TEST(Parser, ATooLongRequestTargetGets414) {
    ParserLimits l;
    l.max_line_size = 16;
    Outcome at = parse_every_split(Kind::request, "GET /" + std::string(15, 'a') + " HTTP/1.1\r\nHost: t\r\n\r\n",
                                   with_limits(l));
    EXPECT_EQ(at.error_status, 0) << "a target of exactly max_line_size is allowed: " << at.error;
    EXPECT_EQ(at.messages.size(), 1u);

    Outcome over = parse_every_split(Kind::request, "GET /" + std::string(16, 'a') + " HTTP/1.1\r\nHost: t\r\n\r\n",
                                     with_limits(l));
    EXPECT_EQ(over.error_status, 414) << over.error;
    EXPECT_TRUE(over.messages.empty());
}

TEST(Parser, ATooLargeHeaderFieldGets431) {
    ParserLimits l;
    l.max_field_size = 20;
    // Name and value together: "X-Field" (7) + 13 = 20.
    Outcome at = parse_every_split(
        Kind::request, "GET / HTTP/1.1\r\nHost: t\r\nX-Field: " + std::string(13, 'v') + "\r\n\r\n", with_limits(l));
    EXPECT_EQ(at.error_status, 0) << at.error;
    Outcome value = parse_every_split(
        Kind::request, "GET / HTTP/1.1\r\nHost: t\r\nX-Field: " + std::string(14, 'v') + "\r\n\r\n", with_limits(l));
    EXPECT_EQ(value.error_status, 431) << value.error;
    Outcome name = parse_every_split(
        Kind::request, "GET / HTTP/1.1\r\nHost: t\r\nX-" + std::string(30, 'n') + ": v\r\n\r\n", with_limits(l));
    EXPECT_EQ(name.error_status, 431) << name.error;
    EXPECT_TRUE(name.messages.empty());
}

TEST(Parser, TooManyHeaderFieldsGet431) {
    ParserLimits l;
    l.max_headers = 3;
    Outcome at = parse_every_split(Kind::request, "GET / HTTP/1.1\r\nHost: t\r\nA: 1\r\nB: 2\r\n\r\n", with_limits(l));
    EXPECT_EQ(at.error_status, 0) << at.error;
    ASSERT_EQ(at.messages.size(), 1u);
    EXPECT_EQ(at.messages[0].head.headers.size(), 3u);
    Outcome over =
        parse_every_split(Kind::request, "GET / HTTP/1.1\r\nHost: t\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", with_limits(l));
    EXPECT_EQ(over.error_status, 431) << over.error;
    EXPECT_TRUE(over.messages.empty());
    // In a response the same limit is a 400, like every other response error: a client reports
    // it the same way wherever a read happened to end (the response fuzzer found a 431/400 split).
    Outcome response = parse_every_split(Kind::response, "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n",
                                         with_limits(l));
    EXPECT_EQ(response.error_status, 400) << response.error;
}

TEST(Parser, ATooLargeHeadGets431) {
    ParserLimits l;
    l.max_headers_size = 64;
    std::string head = "GET / HTTP/1.1\r\nHost: t\r\n";
    for (int i = 0; i < 10; ++i) {
        // Piece by piece: g++ 12 -O3 reports a bogus -Wrestrict on "H" + std::to_string(i).
        head += 'H';
        head += std::to_string(i);
        head += ": 0123456789\r\n";
    }
    Outcome r = parse_every_split(Kind::request, head + "\r\n", with_limits(l));
    EXPECT_EQ(r.error_status, 431) << r.error;
    EXPECT_TRUE(r.messages.empty());
    // The count starts over with each message: two heads under the limit each are fine.
    std::string small = "GET / HTTP/1.1\r\nHost: t\r\nH: 0123456789\r\n\r\n";
    Outcome two = parse_every_split(Kind::request, small + small + small, with_limits(l));
    EXPECT_EQ(two.error_status, 0) << two.error;
    EXPECT_EQ(two.messages.size(), 3u);
}

TEST(Parser, AResponseToHeadHasNoBodyWhateverItsContentLength) {
    Options o;
    int heads = 0;
    o.policy = [&heads](const MessageHead&) { return heads++ == 0 ? Body::none : Body::read; };
    // The first answers a HEAD: its Content-Length describes the GET it stands for.
    const std::string bytes =
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
    Outcome r = parse_whole(Kind::response, bytes, o);
    ASSERT_EQ(r.error_status, 0) << r.error;
    ASSERT_EQ(r.messages.size(), 2u) << dump(r);
    EXPECT_EQ(r.messages[0].head.content_length, std::optional<uint64_t>(5));
    EXPECT_EQ(r.messages[0].body, "");
    EXPECT_EQ(r.messages[0].completes, 1);
    EXPECT_EQ(r.messages[1].head.status, 200);
    EXPECT_EQ(r.messages[1].body, "abc");
    EXPECT_EQ(r.messages[1].completes, 1);
    for (size_t k = 0; k <= bytes.size(); ++k) {
        heads = 0;
        Outcome split =
            parse(Kind::response, {std::string_view(bytes).substr(0, k), std::string_view(bytes).substr(k)}, o);
        EXPECT_EQ(dump(split), dump(r)) << "split at " << k;
    }
    // Chunked too: no chunk is expected.
    heads = 0;
    Outcome chunked = parse_whole(Kind::response,
                                  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  "HTTP/1.1 204 No Content\r\n\r\n",
                                  o);
    ASSERT_EQ(chunked.error_status, 0) << chunked.error;
    ASSERT_EQ(chunked.messages.size(), 2u) << dump(chunked);
    EXPECT_EQ(chunked.messages[1].head.status, 204);
}

TEST(Parser, ACloseDelimitedResponseBodyCompletesAtEof) {
    const std::string bytes = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of this, until the close";
    Outcome before = parse_whole(Kind::response, bytes);
    ASSERT_EQ(before.messages.size(), 1u);
    EXPECT_EQ(before.messages[0].completes, 0) << "only the close ends such a body";
    EXPECT_FALSE(before.messages[0].head.keep_alive);

    Options eof;
    eof.eof = true;
    Outcome r = parse_every_split(Kind::response, bytes, eof);
    ASSERT_EQ(r.error_status, 0) << r.error;
    ASSERT_EQ(r.messages.size(), 1u);
    EXPECT_EQ(r.messages[0].body, "all of this, until the close");
    EXPECT_EQ(r.messages[0].completes, 1);
}

TEST(Parser, EofInTheMiddleOfAMessageThrows) {
    Options eof;
    eof.eof = true;
    const char* cut_responses[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n",
        "HTTP/1.1 200 OK\r\nContent-Le",
    };
    for (const char* bytes : cut_responses) {
        Outcome r = parse_whole(Kind::response, bytes, eof);
        EXPECT_EQ(r.error_status, 400) << bytes;
        for (const Message& m : r.messages)
            EXPECT_EQ(m.completes, 0) << bytes;
    }
    Outcome req = parse_whole(Kind::request, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 9\r\n\r\nabc", eof);
    EXPECT_EQ(req.error_status, 400);

    // Between messages the close is no error.
    Outcome idle = parse_whole(Kind::request, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", eof);
    EXPECT_EQ(idle.error_status, 0) << idle.error;
    EXPECT_EQ(idle.messages.size(), 1u);
    Outcome nothing = parse_whole(Kind::response, "", eof);
    EXPECT_EQ(nothing.error_status, 0) << nothing.error;
}

TEST(Parser, RequestSmugglingIsRejectedWith400) {
    struct Case {
        const char* name;
        const char* bytes;
    };
    const Case cases[] = {
        {"CL and TE",
         "POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
         "0\r\n\r\nGET /admin HTTP/1.1\r\nHost: t\r\n\r\n"},
        {"TE and CL",
         "POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"
         "0\r\n\r\nGET /admin HTTP/1.1\r\nHost: t\r\n\r\n"},
        {"two CL",
         "POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcdGET /admin "
         "HTTP/1.1\r\n\r\n"},
        {"two equal CL", "POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"},
        {"bare LF in the head", "GET / HTTP/1.1\nHost: t\n\n"},
        {"bare LF after a header", "GET / HTTP/1.1\r\nHost: t\nX: y\r\n\r\n"},
        {"space before colon", "GET / HTTP/1.1\r\nHost : t\r\n\r\n"},
        {"tab before colon", "GET / HTTP/1.1\r\nHost\t: t\r\n\r\n"},
        {"invalid chunk size", "POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n"},
        {"negative chunk size", "POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n"},
        {"CL not a number", "POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 1x\r\n\r\na"},
    };
    for (const Case& c : cases) {
        Outcome r = parse_every_split(Kind::request, c.bytes);
        EXPECT_EQ(r.error_status, 400) << c.name << "\n" << dump(r);
        for (const Message& m : r.messages) {
            EXPECT_NE(m.head.target, "/admin") << c.name << ": the smuggled request was parsed";
            EXPECT_EQ(m.completes, 0) << c.name << ": a malformed message completed";
        }
    }
}

namespace {
struct SinkError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class ThrowingSink : public ParserSink {
public:
    enum class Where { head, body, complete } where;
    explicit ThrowingSink(Where w) : where(w) {}
    int heads = 0;
    Body on_head(MessageHead&) override {
        ++heads;
        if (where == Where::head) throw SinkError("from on_head");
        return Body::read;
    }
    void on_body(std::string_view) override {
        if (where == Where::body) throw SinkError("from on_body");
    }
    void on_message_complete() override {
        if (where == Where::complete) throw SinkError("from on_message_complete");
    }
};
}  // namespace

// llhttp is C: an exception unwinding through it would terminate the test (or worse). The parser
// must carry it across and rethrow it as it was.
TEST(Parser, AnExceptionFromTheSinkComesOutOfFeedUnchanged) {
    const std::string bytes =
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
        "GET /next HTTP/1.1\r\nHost: t\r\n\r\n";
    for (auto where : {ThrowingSink::Where::head, ThrowingSink::Where::body, ThrowingSink::Where::complete}) {
        ThrowingSink sink(where);
        Parser parser(Kind::request, sink);
        std::string what;
        try {
            parser.feed(bytes);
            ADD_FAILURE() << "feed() did not throw";
        } catch (const SinkError& e) {
            what = e.what();
        } catch (const std::exception& e) {
            ADD_FAILURE() << "feed() threw something else: " << e.what();
        }
        EXPECT_EQ(what.substr(0, 5), "from ");
        EXPECT_TRUE(parser.failed());
        EXPECT_EQ(sink.heads, 1) << "parsing went on after the sink threw";
        // A failed parser stays failed until reset().
        EXPECT_THROW(parser.feed("GET / HTTP/1.1\r\n\r\n"), BadHttpMessage);
        parser.reset();
        EXPECT_FALSE(parser.failed());
    }
}

TEST(Parser, AnExceptionFromOnBodyIsRethrownWhereverTheBodyIsSplit) {
    const std::string bytes = "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    for (size_t k = 0; k <= bytes.size(); ++k) {
        ThrowingSink sink(ThrowingSink::Where::body);
        Parser parser(Kind::request, sink);
        bool thrown = false;
        try {
            parser.feed(std::string_view(bytes).substr(0, k));
            parser.feed(std::string_view(bytes).substr(k));
        } catch (const SinkError&) {
            thrown = true;
        }
        EXPECT_TRUE(thrown) << "split at " << k;
    }
}

TEST(Parser, ABadHttpMessageFromOnHeadKeepsItsStatus) {
    Options o;
    o.policy = [](const MessageHead&) -> Body { throw BadHttpMessage("version", 505); };
    Outcome r = parse_every_split(Kind::request, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", o);
    EXPECT_EQ(r.error_status, 505);
    EXPECT_EQ(r.error, "version");
}

TEST(Parser, StopFromOnHeadEndsParsingWithoutAnError) {
    Recorder sink;
    sink.policy = [](const MessageHead&) { return Body::stop; };
    Parser parser(Kind::request, sink);
    const std::string bytes = "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n\r\n";
    size_t used = parser.feed(bytes);
    EXPECT_LT(used, bytes.size());
    EXPECT_TRUE(parser.failed());
    ASSERT_EQ(sink.messages.size(), 1u);
    EXPECT_EQ(sink.messages[0].body, "");
    EXPECT_EQ(sink.messages[0].completes, 0);
}
