// The demo site (aiocpp serve's library) on a thread and loop of its own, for the demos whose
// clients block their threads (sequential fetches, thread pools): they cannot share its loop.
#pragma once

#include <future>
#include <string>
#include <thread>

#include "aio/aio.hpp"
#include "aio_app/site.hpp"

namespace aio_demo {

class BackgroundSite {
public:
    explicit BackgroundSite(aio::app::SiteOptions options) {
        std::promise<void> ready;
        std::future<void> started = ready.get_future();
        thread_ = std::thread([this, options, &ready] {
            try {
                aio::run(serve(options, ready));
            } catch (...) {
                // Before set_value: the constructor rethrows it. After: nothing is left to tell.
                try {
                    ready.set_exception(std::current_exception());
                } catch (...) {
                }
            }
        });
        try {
            started.get();  // the fields below are written before set_value: visible now
        } catch (...) {
            thread_.join();
            throw;
        }
    }
    ~BackgroundSite() {
        // Event::set belongs to the site's loop thread: ask that loop to do it.
        loop_->call_soon_threadsafe([this] { stop_->set(); });
        thread_.join();
    }
    BackgroundSite(const BackgroundSite&) = delete;
    BackgroundSite& operator=(const BackgroundSite&) = delete;

    /// "http://127.0.0.1:PORT" + path.
    [[nodiscard]] std::string url(const std::string& path = "/") const { return base_ + path; }

private:
    aio::Task<void> serve(aio::app::SiteOptions options, std::promise<void>& ready) {
        aio::Event stop;
        aio::app::Site site = co_await aio::app::Site::start(options);
        stop_ = &stop;
        loop_ = &aio::get_running_loop();
        base_ = site.url("/");
        base_.pop_back();  // url() paths start with "/"
        ready.set_value();
        co_await stop.wait();
        co_await site.stop();
    }

    std::thread thread_;
    aio::Event* stop_ = nullptr;
    aio::EventLoop* loop_ = nullptr;
    std::string base_;
};

}  // namespace aio_demo
