// Helpers for the threads layer's tests.
#pragma once

#include "test_util.hpp"  // LogCapture (thread-safe)

#include <aio/core/event_loop.hpp>
#include <aio/threads/concurrent_future.hpp>

#include <memory>
#include <thread>

namespace aiotest {

/// An event loop running forever in a thread of its own, for run_coroutine_threadsafe.
class LoopThread {
public:
    explicit LoopThread(aio::LoopOptions options = {}) {
        auto ready = aio::ConcurrentFuture<aio::EventLoop*>::create();
        thread_ = std::thread([this, ready, options]() mutable {
            auto loop = aio::new_event_loop(options);
            loop_ = loop.get();
            ready.set_result(loop.get());
            loop->run_forever();
            if (close_after_stop_) loop->close();
        });
        ready.result();
    }
    LoopThread(const LoopThread&) = delete;
    LoopThread& operator=(const LoopThread&) = delete;
    ~LoopThread() { stop(); }
    aio::EventLoop& loop() { return *loop_; }
    /// Stops the loop and joins the thread; the loop is closed (pending tasks dropped).
    void stop() {
        if (!thread_.joinable()) return;
        loop_->call_soon_threadsafe([l = loop_] { l->stop(); });
        thread_.join();
    }

private:
    aio::EventLoop* loop_ = nullptr;
    bool close_after_stop_ = true;
    std::thread thread_;
};

}  // namespace aiotest
