// aiocpp side of the differential tests: the scenarios of trace.py, written with aiocpp, printing
// the same trace. ctest runs both (Python's asyncio is the peer) and requires identical output.
// Runs on the virtual clock; only the order of events is printed.
#include <aio/aio.hpp>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

template <class... A>
void p(const A&... parts) {
    std::string line;
    ((line += (line.empty() ? "" : " "), line += parts), ...);
    std::puts(line.c_str());
    std::fflush(stdout);
}
std::string py(bool b) { return b ? "True" : "False"; }
std::string py(int i) { return std::to_string(i); }
std::string repr(const std::string& s) { return "'" + s + "'"; }
std::string list(const std::vector<std::string>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + repr(v[i]);
    return s + "]";
}
std::string list_raw(const std::vector<std::string>& v) {  // elements already formatted
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
    return s + "]";
}

struct ValueError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// --- ordering ---------------------------------------------------------------------------------
aio::Task<void> spin(std::string name, int n) {
    for (int i = 0; i < n; ++i) {
        p(name, py(i));
        co_await aio::sleep(0ms);
    }
}

aio::Task<void> ordering() {
    auto& loop = aio::get_running_loop();
    for (int i = 0; i < 3; ++i) loop.call_soon([i] { p("soon", py(i)); });
    loop.call_later(20ms, [] { p("timer 20ms"); });
    loop.call_later(10ms, [] { p("timer 10ms"); });
    auto a = aio::create_task(spin("a", 3));
    auto b = aio::create_task(spin("b", 3));
    p("main before await");
    co_await aio::gather(a, b);
    p("gathered");
    co_await aio::sleep(50ms);
    p("main end");
}

// --- cancel -----------------------------------------------------------------------------------
aio::Task<std::string> sleeper(std::string name, bool swallow) {
    std::exception_ptr cancelled;
    try {
        co_await aio::sleep(10s);
    } catch (const aio::CancelledError& e) {
        p(name, "cancelled with", repr(e.message()));
        cancelled = std::current_exception();
    }
    // C++ cannot co_await inside a catch block: the cleanup runs after it, then the original
    // CancelledError is rethrown (Python: await inside `except`, then `raise`).
    co_await aio::sleep(0ms);
    p(name, "cleanup done");
    if (swallow) co_return name + " swallowed";
    std::rethrow_exception(cancelled);
}

aio::Task<void> body(int& ran) {
    ++ran;
    co_return;
}

aio::Task<void> inner_sleep() {
    struct Finally {
        ~Finally() { p("inner finally"); }
    } f;
    co_await aio::sleep(10s);
}

aio::Task<void> outer_wait(aio::TaskHandle<void> t) {
    struct Finally {
        ~Finally() { p("outer finally"); }
    } f;
    co_await t;
}

aio::Task<void> cancel() {
    auto t1 = aio::create_task(sleeper("t1", false));
    auto t2 = aio::create_task(sleeper("t2", true));
    co_await aio::sleep(0ms);
    p("cancel t1", py(t1.cancel("stop")));
    p("cancel t2", py(t2.cancel()));
    for (auto* t : {&t1, &t2}) {
        try {
            std::string r = co_await *t;
            p("result", r);
        } catch (const aio::CancelledError&) {
            p("awaiting raised CancelledError");
        }
    }
    p("t1 cancelled", py(t1.cancelled()), "t2 cancelled", py(t2.cancelled()));

    int ran = 0;
    auto t3 = aio::create_task(body(ran));
    t3.cancel();
    try {
        co_await t3;
    } catch (const aio::CancelledError&) {
        p("t3 cancelled before start, body ran", py(ran));
    }

    auto ti = aio::create_task(inner_sleep());
    auto to = aio::create_task(outer_wait(ti));
    co_await aio::sleep(0ms);
    to.cancel();
    try {
        co_await to;
    } catch (const aio::CancelledError&) {
    }
    p("inner cancelled", py(ti.cancelled()), "outer cancelled", py(to.cancelled()));
}

// --- gather -----------------------------------------------------------------------------------
aio::Task<std::string> work(std::string name, std::chrono::milliseconds delay, bool fail = false) {
    try {
        co_await aio::sleep(delay);
    } catch (const aio::CancelledError&) {
        p(name, "cancelled");
        throw;
    }
    if (fail) {
        p(name, "fails");
        throw ValueError(name);
    }
    p(name, "done");
    co_return name;
}

aio::Task<void> gather() {
    auto [a, b, c] = co_await aio::gather(work("a", 30ms), work("b", 10ms), work("c", 20ms));
    p("results", list({a, b, c}));
    try {
        co_await aio::gather(work("d", 10ms, true), work("e", 30ms));
    } catch (const ValueError& e) {
        p("gather raised ValueError", e.what());
    }
    co_await aio::sleep(50ms);
    auto [f, g] = co_await aio::gather(aio::return_exceptions, work("f", 10ms, true), work("g", 20ms));
    auto name = [](auto& o) { return o.has_value() ? repr(o.value()) : repr(std::string("ValueError")); };
    p("return_exceptions", list_raw({name(f), name(g)}));
    auto outer = aio::create_task(aio::gather(work("h", 1s), work("i", 1s)));
    co_await aio::sleep(10ms);
    outer.cancel();
    try {
        co_await outer;
    } catch (const aio::CancelledError&) {
        p("outer gather cancelled");
    }
}

// --- timeouts ---------------------------------------------------------------------------------
aio::Task<void> slow(std::string name) {
    std::exception_ptr cancelled;
    try {
        co_await aio::sleep(10s);
    } catch (const aio::CancelledError&) {
        p(name, "cancelled, cleaning up");
        cancelled = std::current_exception();
    }
    if (cancelled) {
        co_await aio::sleep(0ms);
        p(name, "cleanup finished");
        std::rethrow_exception(cancelled);
    }
}

aio::Task<std::string> stubborn() {
    try {
        co_await aio::sleep(10s);
    } catch (const aio::CancelledError&) {
    }
    co_return "kept going";
}

aio::Task<std::string> shield_waiter(aio::TaskHandle<std::string> inner) { co_return co_await aio::shield(inner); }

aio::Task<void> timeouts() {
    try {
        co_await aio::wait_for(slow("w"), 10ms);
    } catch (const aio::TimeoutError&) {
        p("wait_for: TimeoutError");
    }
    p("wait_for swallowed:", co_await aio::wait_for(stubborn(), 10ms));
    aio::Timeout cm = aio::timeout(10ms);
    try {
        co_await cm.run(slow("t"));
    } catch (const aio::TimeoutError&) {
        p("timeout: TimeoutError, expired", py(cm.expired()));
    }
    auto inner = aio::create_task(aio::sleep(20ms, std::string("shielded result")));
    auto w = aio::create_task(shield_waiter(inner));
    co_await aio::sleep(10ms);
    w.cancel();
    try {
        co_await w;
    } catch (const aio::CancelledError&) {
        p("shield: waiter cancelled");
    }
    p("shield: inner result", co_await inner);
}

// --- taskgroup --------------------------------------------------------------------------------
aio::Task<void> child(std::string name, std::chrono::milliseconds delay, bool fail = false) {
    co_await work(name, delay, fail);
}

aio::Task<void> taskgroup() {
    try {
        co_await aio::TaskGroup::run([](aio::TaskGroup& tg) -> aio::Task<void> {
            tg.create_task(child("a", 10ms));
            tg.create_task(child("b", 20ms, true));
            tg.create_task(child("c", 30ms));
            co_await aio::sleep(1s);
            p("body not cancelled?!");
        });
    } catch (const aio::ExceptionGroup& eg) {
        std::vector<std::string> msgs;
        for (auto& e : eg.exceptions()) {
            try {
                std::rethrow_exception(e);
            } catch (const ValueError& v) {
                msgs.push_back(v.what());
            }
        }
        p("ExceptionGroup with", list(msgs));
    }
    co_await aio::TaskGroup::run([](aio::TaskGroup& tg) -> aio::Task<void> {
        for (int i = 0; i < 3; ++i) tg.create_task(child("ok" + std::to_string(i), 10ms * (3 - i)));
        co_return;
    });
    p("all children done");
}

// --- shutdown ---------------------------------------------------------------------------------
aio::Task<void> bg(std::string name) {
    try {
        co_await aio::sleep(10s);
    } catch (const aio::CancelledError&) {
        p(name, "cancelled at shutdown");
        throw;
    }
}

aio::Task<int> shutdown_main() {
    (void)aio::create_task(bg("bg"));
    co_await aio::sleep(0ms);
    p("main returns");
    co_return 7;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return 2;
    const std::string s = argv[1];
    const aio::LoopOptions opts{.virtual_time = true};
    if (s == "ordering") aio::run(ordering(), opts);
    else if (s == "cancel") aio::run(cancel(), opts);
    else if (s == "gather") aio::run(gather(), opts);
    else if (s == "timeouts") aio::run(timeouts(), opts);
    else if (s == "taskgroup") aio::run(taskgroup(), opts);
    else if (s == "shutdown") p("run returned", py(aio::run(shutdown_main(), opts)));
    else return 2;
}
