// Shared helpers for the tests: a virtual-time runner and a log capture.
#pragma once

#include <aio/aio.hpp>

#include <mutex>
#include <string>
#include <vector>

namespace aiotest {

/// Runs `t` with aio::run on the virtual test clock: sleeps and timeouts take no real time.
template <class T>
T run_virtual(aio::Task<T> t, bool debug = false) {
    return aio::run(std::move(t), aio::LoopOptions{.debug = debug, .virtual_time = true});
}

/// Captures everything aiocpp logs while alive.
class LogCapture {
public:
    LogCapture() {
        prev_ = aio::set_log_handler([this](aio::LogLevel, std::string_view m) {
            std::lock_guard lk(mu_);
            lines_.emplace_back(m);
        });
    }
    ~LogCapture() { aio::set_log_handler(std::move(prev_)); }
    std::vector<std::string> lines() {
        std::lock_guard lk(mu_);
        return lines_;
    }
    bool contains(const std::string& needle) {
        for (auto& l : lines())
            if (l.find(needle) != std::string::npos) return true;
        return false;
    }

private:
    std::mutex mu_;
    std::vector<std::string> lines_;
    aio::LogHandler prev_;
};

}  // namespace aiotest
