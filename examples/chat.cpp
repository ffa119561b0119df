// Beyond the course — a WebSocket chat: an aio::http server with a /chat route and five
// ClientSession::ws_connect clients, all on one loop. Every message is broadcast to the other
// clients; one of them stops reading for a second. Each socket has its own sender task on the
// server, fed by a bounded outbox, so the client that does not read fills only its own outbox and
// the fan-out to the others goes on at full speed. (The course's async lessons: E3's Queue, E6's
// ClientSession, E17's server.)
// Standalone: examples/chat [--virtual-time]. In the CLI: aiocpp demo chat.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <fmt/core.h>

#include "aio/aio.hpp"
#include "demo.hpp"

namespace {

using namespace std::chrono_literals;
using aio::http::ClientWebSocketResponse;
using aio::http::WebSocketResponse;
using aio::http::WSMsgType;

constexpr int kClients = 5;     // the last one is the slow reader
constexpr int kMessages = 200;  // sent by each client
constexpr auto kPace = 2ms;     // between two messages of one client
// Chat lines are short; these carry a paste each, so that a few hundred messages are more than
// the socket buffers and the slow client's receive queue (1 MiB) hold between it and the server.
constexpr size_t kPaste = 16 * 1024;
// The slow client reads nothing for this long (a phone in a tunnel, a busy UI thread): longer
// than the chat lasts. Not a delay per message: the kernel grows a socket's buffers with the rate
// its reader reads at in real time, and under --virtual-time a "slow" reader is fast in real time,
// so the buffers would swallow everything and the server would never feel her.
constexpr auto kStall = 1000ms;
constexpr size_t kOutbox = 16;  // messages a client's outbox holds on the server
constexpr const char* kNames[kClients] = {"alice", "bob", "carol", "dave", "erin"};
constexpr int kSlow = kClients - 1;

double ms_of(int64_t ns) { return static_cast<double>(ns) / 1e6; }
int64_t now_ns() { return aio::get_running_loop().clock_ns(); }

// ---- the server -------------------------------------------------------------------------------

using Text = std::shared_ptr<const std::string>;  // one copy of a message, shared by every outbox

// One connected socket, as the server sees it.
struct Member {
    std::string name;
    WebSocketResponse ws;
    aio::Queue<Text> outbox{kOutbox};
    std::optional<aio::TaskHandle<void>> sender;
    size_t high_water = 0;
    int dropped = 0;
    int sent = 0;
    int sent_at_first_drop = -1;
    int64_t send_wait_ns = 0;  // time spent in send_str: the socket's back-pressure
    int64_t longest_send_ns = 0;

    // Never waits: the broadcaster must not be held up by any one client. When the outbox is
    // full the oldest message goes: the client stays connected, gets the newest ones, and the
    // numbers in the messages show it the gap.
    void offer(Text text) {
        if (outbox.is_shutdown()) return;
        if (outbox.full()) {
            if (dropped == 0) sent_at_first_drop = sent;
            (void)outbox.get_nowait();
            ++dropped;
        }
        outbox.put_nowait(std::move(text));
        high_water = std::max(high_water, outbox.qsize());
    }
};

// How the server fans a message out.
enum class Fanout {
    outboxes,  // put_nowait into each client's outbox; each client's sender task sends
    in_turn,   // the naive way, for comparison: await send_str to each client, one after the other
};

class Room {
public:
    Room(Fanout fanout, size_t members, int messages)
        : fanout_(fanout), expected_members_(members), expected_messages_(messages) {}

    [[nodiscard]] Fanout fanout() const noexcept { return fanout_; }

    std::shared_ptr<Member> join(std::string name, const WebSocketResponse& ws) {
        auto m = std::make_shared<Member>();
        m->name = std::move(name);
        m->ws = ws;
        if (fanout_ == Fanout::outboxes) m->sender = aio::create_task(send_loop(m), "sender " + m->name);
        members_.push_back(m);
        everyone_.push_back(m);
        if (members_.size() == expected_members_) all_joined_.set();
        return m;
    }

    void leave(const std::shared_ptr<Member>& m) {
        std::erase(members_, m);
        m->outbox.shutdown(true);  // the client is gone: what is left has nowhere to go
    }

    void broadcast(const Member& from, std::string text) {
        const Text shared = std::make_shared<const std::string>(std::move(text));
        for (const auto& m : members_)
            if (m.get() != &from) m->offer(shared);
        if (++broadcasts_ == expected_messages_) all_broadcast_.set();
    }

    // Python: for ws in room: await ws.send_str(text). The handler that runs this reads no more
    // of its own client's messages until every socket has taken this one.
    aio::Task<void> broadcast_in_turn(const Member& from, std::string text) {
        const int64_t t0 = now_ns();
        const std::vector<std::shared_ptr<Member>> members = members_;  // members_ may change meanwhile
        for (const auto& m : members) {
            if (m.get() == &from) continue;
            try {
                co_await m->ws.send_str(text);
                ++m->sent;
            } catch (const std::system_error&) {
                // That client has gone: the others still get the message.
            }
        }
        longest_broadcast_ns_ = std::max(longest_broadcast_ns_, now_ns() - t0);
        if (++broadcasts_ == expected_messages_) all_broadcast_.set();
    }

    // Closing the chat: every sender sends what its outbox still holds, then closes its socket
    // with 1001 (going away); without outboxes everything has been sent already.
    aio::Task<void> close() {
        if (fanout_ == Fanout::outboxes) {
            for (const auto& m : members_)
                m->outbox.shutdown();
            co_return;
        }
        const std::vector<std::shared_ptr<Member>> members = members_;
        for (const auto& m : members)
            co_await close_going_away(m->ws);
    }

    aio::Event& all_joined() { return all_joined_; }
    aio::Event& all_broadcast() { return all_broadcast_; }
    [[nodiscard]] double longest_broadcast_ms() const { return ms_of(longest_broadcast_ns_); }
    [[nodiscard]] const Member* find(std::string_view name) const {
        for (const auto& m : everyone_)
            if (m->name == name) return m.get();
        return nullptr;
    }

private:
    static aio::Task<void> send_loop(std::shared_ptr<Member> m) {
        try {
            for (;;) {
                Text text = co_await m->outbox.get();
                const int64_t t0 = now_ns();
                co_await m->ws.send_str(*text);
                const int64_t waited = now_ns() - t0;
                m->send_wait_ns += waited;
                m->longest_send_ns = std::max(m->longest_send_ns, waited);
                ++m->sent;
            }
        } catch (const aio::QueueShutDown&) {
        } catch (const std::system_error&) {
            // The client went away in the middle of a send: nothing more to do for it.
        }
        co_await close_going_away(m->ws);
    }

    static aio::Task<void> close_going_away(WebSocketResponse ws) {
        if (!ws.closed()) co_await ws.close(static_cast<uint16_t>(aio::http::WSCloseCode::GOING_AWAY), "chat closed");
    }

    Fanout fanout_;
    size_t expected_members_;
    int expected_messages_;
    int broadcasts_ = 0;
    int64_t longest_broadcast_ns_ = 0;  // in_turn: the longest one took this long
    std::vector<std::shared_ptr<Member>> members_;
    std::vector<std::shared_ptr<Member>> everyone_;  // for the report, after they left
    aio::Event all_joined_;
    aio::Event all_broadcast_;
};

// Python: ws = web.WebSocketResponse(); await ws.prepare(request); async for msg in ws: ...
aio::Task<aio::http::Response> handle_chat(std::shared_ptr<Room> room, aio::http::Request request) {
    WebSocketResponse ws;
    std::string name = "?";
    for (auto& [key, value] : request.query())
        if (key == "name") name = value;
    co_await ws.prepare(request);
    std::shared_ptr<Member> me = room->join(name, ws);
    std::exception_ptr error;
    try {
        auto messages = ws.iter();
        while (auto m = co_await messages.next()) {
            if (m->type != WSMsgType::TEXT) continue;
            if (room->fanout() == Fanout::outboxes) {
                room->broadcast(*me, std::move(m->data));
            } else {
                aio::Task<void> sent = room->broadcast_in_turn(*me, std::move(m->data));
                co_await std::move(sent);
            }
        }
    } catch (...) {
        error = std::current_exception();
    }
    room->leave(me);
    if (me->sender) {
        co_await *me->sender;
        me->sender.reset();  // the task's frame holds `me`: a cycle until the handle goes
    }
    if (error) std::rethrow_exception(error);
    co_return ws;
}

// ---- the clients ------------------------------------------------------------------------------

// What one client saw.
struct Seen {
    std::string name;
    bool slow = false;
    int received = 0;
    std::map<std::string, int> last;  // sender -> the highest number received from it
    std::vector<std::string> problems;
    std::vector<double> latency_ms;  // from send_str at the sender to receive() here
    double last_at_ms = 0;           // when the last message came, from the start
    std::optional<uint16_t> close_code;

    // "alice#17 <sent at, ns> <paste>"
    void record(const std::string& text, int64_t start_ns) {
        const size_t hash = text.find('#');
        const size_t space = text.find(' ', hash);
        const size_t space2 = text.find(' ', space + 1);
        if (hash == std::string::npos || space == std::string::npos || space2 == std::string::npos) {
            problems.push_back("a malformed message");
            return;
        }
        const std::string from = text.substr(0, hash);
        const int n = std::stoi(text.substr(hash + 1, space - hash - 1));
        const int64_t sent_ns = std::stoll(text.substr(space + 1, space2 - space - 1));
        int& prev = last[from];
        // A fast client must see every number in turn; the slow one may see gaps, never a step back.
        if (from == name)
            problems.push_back("its own message came back");
        else if (n <= prev)
            problems.push_back(fmt::format("{}#{} after {}#{}", from, n, from, prev));
        else if (!slow && n != prev + 1)
            problems.push_back(fmt::format("{}#{} missing", from, prev + 1));
        prev = n;
        ++received;
        const int64_t now = now_ns();
        latency_ms.push_back(ms_of(now - sent_ns));
        last_at_ms = ms_of(now - start_ns);
    }
};

aio::Task<void> send_messages(ClientWebSocketResponse& ws, const Seen& seen) {
    const std::string paste(kPaste, '~');
    for (int i = 1; i <= kMessages; ++i) {
        std::string text = fmt::format("{}#{} {} ", seen.name, i, now_ns());
        text += paste;
        co_await ws.send_str(text);
        co_await aio::sleep(kPace);
    }
}

aio::Task<void> read_messages(ClientWebSocketResponse& ws, Seen& seen, int64_t start_ns) {
    if (seen.slow) co_await aio::sleep(kStall);
    auto messages = ws.iter();  // until the server closes the chat
    while (auto m = co_await messages.next()) {
        if (m->type != WSMsgType::TEXT) continue;
        seen.record(m->data, start_ns);
    }
    seen.close_code = ws.close_code();
}

// A chat client: one task types, another reads, on the same socket.
aio::Task<void> chat_client(ClientWebSocketResponse& ws, Seen& seen, int64_t start_ns) {
    auto both = [&ws, &seen, start_ns](aio::TaskGroup& tg) -> aio::Task<void> {
        tg.create_task(send_messages(ws, seen));
        co_await read_messages(ws, seen, start_ns);
    };
    aio::Task<void> group = aio::TaskGroup::run(both);
    co_await std::move(group);
}

// ---- the run ----------------------------------------------------------------------------------

struct Report {
    std::vector<Seen> seen;
    struct Side {
        size_t high_water = 0;
        int dropped = 0;
        int sent = 0;
        int sent_at_first_drop = -1;
        double send_wait_ms = 0;
        double longest_send_ms = 0;
    };
    std::vector<Side> server;  // by client
    double longest_broadcast_ms = 0;
};

aio::Task<void> chat(Fanout fanout, Report& report) {
    auto room = std::make_shared<Room>(fanout, kClients, kClients * kMessages);
    aio::http::Application app;
    app.router().add_get("/chat", [room](aio::http::Request r) { return handle_chat(room, std::move(r)); });
    aio::http::AppRunner runner(app);
    co_await runner.setup();
    aio::http::TCPSite site(runner, "127.0.0.1", 0);
    co_await site.start();
    const std::string url = fmt::format("ws://127.0.0.1:{}/chat", site.port());
    const bool tell = fanout == Fanout::outboxes;  // the second run is the same, but for the fan-out
    if (tell) fmt::print("   server: {} (one loop: the server and the {} clients)\n", url, kClients);

    aio::http::ClientSession session;
    std::vector<ClientWebSocketResponse> sockets;
    report.seen.resize(kClients);
    for (int i = 0; i < kClients; ++i) {
        report.seen[i].name = kNames[i];
        report.seen[i].slow = i == kSlow;
        sockets.push_back(co_await session.ws_connect(url + "?name=" + kNames[i]));
    }
    // Nobody speaks before everyone is in the room, so each of them is owed every message.
    co_await room->all_joined().wait();
    if (tell)
        fmt::print("   {} clients in the room; each sends {} messages of {} KiB, one every {} ms\n\n", kClients,
                   kMessages, kPaste / 1024, kPace.count());

    const int64_t start = now_ns();
    auto everyone = [&](aio::TaskGroup& tg) -> aio::Task<void> {
        for (int i = 0; i < kClients; ++i)
            tg.create_task(chat_client(sockets[i], report.seen[i], start));
        co_await room->all_broadcast().wait();
        co_await room->close();  // the clients read until their socket closes
    };
    aio::Task<void> group = aio::TaskGroup::run(everyone);
    co_await std::move(group);

    for (int i = 0; i < kClients; ++i) {
        const Member* m = room->find(kNames[i]);
        if (m == nullptr) throw std::runtime_error(fmt::format("the server never saw {}", kNames[i]));
        Report::Side side;
        side.high_water = m->high_water;
        side.dropped = m->dropped;
        side.sent = m->sent;
        side.sent_at_first_drop = m->sent_at_first_drop;
        side.send_wait_ms = ms_of(m->send_wait_ns);
        side.longest_send_ms = ms_of(m->longest_send_ns);
        report.server.push_back(side);
    }
    report.longest_broadcast_ms = room->longest_broadcast_ms();
    co_await session.close();
    co_await runner.cleanup();
}

// A lost close or a stuck sender is a failure with a message, not a hang.
aio::Task<void> chat_within_a_minute(Fanout fanout, Report& report) {
    aio::Task<void> all = chat(fanout, report);
    co_await aio::wait_for(std::move(all), 60s);
}

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

double largest(const std::vector<double>& v) { return v.empty() ? 0 : *std::max_element(v.begin(), v.end()); }

constexpr int kOwed = (kClients - 1) * kMessages;  // messages each client is owed

// Every message a fast client is owed must have come, once and in order, and every socket must
// have been closed by the server. Prints a line per fast client; returns when the last message
// reached the last of them, and the worst latency.
struct FastSummary {
    double done_ms = 0, worst_ms = 0;
};
FastSummary check_fast_clients(const Report& report, std::vector<std::string>& failures) {
    FastSummary sum;
    for (int i = 0; i < kClients; ++i) {
        const Seen& s = report.seen[i];
        const Report::Side& srv = report.server[i];
        for (const auto& p : s.problems)
            failures.push_back(s.name + ": " + p);
        if (s.close_code != static_cast<uint16_t>(aio::http::WSCloseCode::GOING_AWAY))
            failures.push_back(fmt::format("{}: closed with {} instead of 1001", s.name, s.close_code.value_or(0)));
        if (s.slow) continue;
        if (s.received != kOwed)
            failures.push_back(fmt::format("{} received {} of {} messages", s.name, s.received, kOwed));
        if (srv.dropped != 0)
            failures.push_back(fmt::format("the server dropped {} messages for {}", srv.dropped, s.name));
        sum.done_ms = std::max(sum.done_ms, s.last_at_ms);
        sum.worst_ms = std::max(sum.worst_ms, largest(s.latency_ms));
        fmt::print("   {:<6} {} of {} received   latency median {:.1f} ms, max {:.1f} ms", s.name, s.received, kOwed,
                   median(s.latency_ms), largest(s.latency_ms));
        if (report.server[i].high_water > 0 || srv.dropped > 0)
            fmt::print("   outbox peak {}, {} dropped", srv.high_water, srv.dropped);
        fmt::print("\n");
    }
    return sum;
}

void run(const aio_demo::Options& options) {
    fmt::print(
        "A chat server (aio::http, a /chat WebSocket route) and {} clients (ws_connect) on one loop: each\n"
        "message is broadcast to the {} others. On the server each socket has a sender task of its own,\n"
        "fed by an outbox of at most {} messages (an aio::Queue): the broadcast only puts into outboxes\n"
        "and never waits. A full outbox drops its oldest message. {} stops reading for {} ms. Then the\n"
        "same chat again with a broadcast that awaits each send, to compare.\n\n",
        kClients, kClients - 1, kOutbox, kNames[kSlow], kStall.count());
    Report report;
    aio::run(chat_within_a_minute(Fanout::outboxes, report), options.loop_options());

    const double mb = static_cast<double>(kPaste) / 1e6;
    std::vector<std::string> failures;
    fmt::print("The fast clients (every message of the {} others, once and in order: checked):\n", kClients - 1);
    const FastSummary fast = check_fast_clients(report, failures);
    double fast_longest_send = 0;
    for (int i = 0; i < kClients; ++i)
        if (i != kSlow) fast_longest_send = std::max(fast_longest_send, report.server[i].longest_send_ms);
    fmt::print(
        "   the last of the {} messages reached them {:.0f} ms after the first was sent (the senders'\n"
        "   pace alone, {} messages {} ms apart, takes {} ms)\n",
        kClients * kMessages, fast.done_ms, kMessages, kPace.count(), (kMessages - 1) * kPace.count());
    if (options.virtual_time)
        fmt::print("   (virtual time: the network takes no time on this clock, hence latencies of 0)\n");

    const Seen& slow = report.seen[kSlow];
    const Report::Side& srv = report.server[kSlow];
    fmt::print("\nThe slow client, {}, who read nothing for {} ms:\n", slow.name, kStall.count());
    if (srv.sent_at_first_drop >= 0)
        fmt::print(
            "   the server had sent her {} messages ({:.1f} MB) when her outbox first overflowed: the kernel's\n"
            "   socket buffers and her receive queue (which stops reading at 1 MiB) held them\n",
            srv.sent_at_first_drop, srv.sent_at_first_drop * mb);
    else
        fmt::print("   her outbox never overflowed: the socket buffers held all the server sent her\n");
    fmt::print(
        "   her sender task on the server waited {:.0f} ms in send_str (the back-pressure of her socket);\n"
        "   the fast clients' senders waited {:.1f} ms at the longest\n",
        srv.send_wait_ms, fast_longest_send);
    fmt::print("   her outbox peaked at {} of {}: {} messages dropped, oldest first\n", srv.high_water, kOutbox,
               srv.dropped);
    fmt::print(
        "   she read {} of {} (the numbers show her the gaps), the last {:.0f} ms after the start,\n"
        "   then the close (code {}) once the server had flushed her outbox\n",
        slow.received, kOwed, slow.last_at_ms, slow.close_code.value_or(0));
    const bool adds_up = slow.received + srv.dropped == kOwed;
    fmt::print("   read + dropped = {} + {} = {}: {}\n\n", slow.received, srv.dropped, slow.received + srv.dropped,
               adds_up ? "every message she was owed is accounted for" : "MESSAGES UNACCOUNTED FOR");
    if (!adds_up)
        failures.push_back(fmt::format("{}: {} read + {} dropped != {}", slow.name, slow.received, srv.dropped, kOwed));

    // The same chat with the broadcast everybody writes first, to measure what the outboxes saved.
    fmt::print(
        "For comparison, the same chat with the naive broadcast: each handler awaits send_str to every\n"
        "other client in turn (Python: for ws in room: await ws.send_str(msg)), no outboxes:\n");
    Report naive;
    aio::run(chat_within_a_minute(Fanout::in_turn, naive), options.loop_options());
    const FastSummary waited = check_fast_clients(naive, failures);
    const Seen& naive_slow = naive.seen[kSlow];
    fmt::print(
        "   the last message reached them {:.0f} ms after the first was sent; the longest broadcast took\n"
        "   {:.0f} ms. {} read {} of {}: nothing dropped, everybody waited for her instead\n\n",
        waited.done_ms, naive.longest_broadcast_ms, naive_slow.name, naive_slow.received, kOwed);
    if (naive_slow.received != kOwed)
        failures.push_back(
            fmt::format("naive broadcast: {} read {} of {}", naive_slow.name, naive_slow.received, kOwed));

    if (!failures.empty()) {
        std::string all;
        for (const auto& f : failures)
            all += "\n  " + f;
        throw std::runtime_error("the chat lost or garbled messages:" + all);
    }

    fmt::print(
        "The lesson: a broadcast that awaits each send in turn goes at the pace of the slowest reader as\n"
        "soon as her socket's buffers are full: the fast clients' messages were up to {:.0f} ms late. With a\n"
        "task and a bounded queue per socket they were {:.1f} ms late at most, and only {} paid, with {}\n"
        "dropped messages; the memory a client can cost stays bounded (the outbox plus the socket\n"
        "buffers). Dropping the oldest keeps a slow client connected and current (chat, presence,\n"
        "prices); where every message matters, close a client whose outbox is full (1008) instead and let\n"
        "it reconnect and catch up.\n",
        waited.worst_ms, fast.worst_ms, slow.name, srv.dropped);
}

const aio_demo::Registration registration{{
    .name = "chat",
    .number = 0,
    .summary = "A WebSocket chat: a broadcast server and 5 clients on one loop, one slow reader that stalls nobody.",
    .run = &run,
}};

}  // namespace
