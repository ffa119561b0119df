// asyncio.Runner's rules: run the main task; on SIGINT cancel it; at the end cancel what is
// left, wait for it, report what failed, close the loop.
#include "aio/core/run.hpp"

#include <pthread.h>
#include <unistd.h>

#include <csignal>

#include "signals.hpp"

namespace aio::detail {

void check_not_in_loop() {
    if (tls_running_loop) throw RuntimeError("aio::run() cannot be called from a running event loop");
}

namespace {
bool is_main_thread() { return ::getpid() == static_cast<pid_t>(::gettid()); }

bool sigint_is_default() {
    struct sigaction sa {};
    return ::sigaction(SIGINT, nullptr, &sa) == 0 && !(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_DFL;
}

void cancel_all_tasks(EventLoop& loop) {
    std::vector<TaskRef> left;
    for (TaskCore* t : LoopAccess::tasks_in_creation_order(loop)) left.emplace_back(t);
    if (left.empty()) return;
    for (auto& t : left) t.cancel();
    // Wait for all of them: a node per task counts completions and stops the loop at zero.
    struct Counter {
        size_t remaining;
        EventLoop* loop;
    } counter{left.size(), &loop};
    struct Node : CompletionNode {
        Counter* c;
    };
    std::vector<Node> nodes(left.size());
    for (size_t i = 0; i < left.size(); ++i) {
        nodes[i].c = &counter;
        nodes[i].fire = [](CompletionNode* n, FutureCore&) noexcept {
            Counter* c = static_cast<Node*>(n)->c;
            if (--c->remaining == 0) c->loop->stop();
        };
        FutureCore* f = left[i].core_ptr();
        if (f->done()) --counter.remaining;
        else f->link(nodes[i]);
    }
    if (counter.remaining > 0) loop.run_forever();
    for (auto& t : left) {
        if (!t.done() || t.cancelled()) continue;
        if (auto e = t.core_ptr()->stored_exception()) {
            t.core_ptr()->mark_retrieved();
            loop.call_exception_handler({"unhandled exception during aio::run() shutdown", e, t.get_name()});
        }
    }
}
}  // namespace

void run_main(EventLoop& loop, TaskRef main) {
    bool sigint = false;
    int interrupts = 0;
    if (is_main_thread() && sigint_is_default()) {
        loop.add_signal_handler(SIGINT, [&interrupts, main]() mutable {
            ++interrupts;
            if (!main.done()) main.cancel();
        });
        signals::set_sigint_escalation(true);
        sigint = true;
    }
    struct Cleanup {
        EventLoop& loop;
        bool sigint;
        ~Cleanup() {
            try {
                cancel_all_tasks(loop);
            } catch (...) {
            }
            loop.shutdown_default_executor();  // asyncio.run: waits for the executor's jobs
            if (sigint) {
                signals::set_sigint_escalation(false);
                loop.remove_signal_handler(SIGINT);
            }
            loop.close();
        }
    };
    {
        Cleanup cleanup{loop, sigint};
        LoopAccess::run_until_done(loop, *main.core_ptr());
    }
    if (interrupts > 0 && main.cancelled() && main.uncancel() == 0) throw KeyboardInterrupt();
}

}  // namespace aio::detail
