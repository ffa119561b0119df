#include "aio/core/log.hpp"

#include <cstdio>
#include <mutex>
#include <string>

namespace aio {

namespace {
std::mutex g_log_mutex;
LogHandler g_handler;

const char* level_name(LogLevel l) {
    switch (l) {
        case LogLevel::debug: return "DEBUG";
        case LogLevel::info: return "INFO";
        case LogLevel::warning: return "WARNING";
        case LogLevel::error: return "ERROR";
    }
    return "?";
}
}  // namespace

LogHandler set_log_handler(LogHandler handler) {
    std::lock_guard lk(g_log_mutex);
    std::swap(g_handler, handler);
    return handler;
}

void log(LogLevel level, std::string_view message) {
    LogHandler h;
    {
        std::lock_guard lk(g_log_mutex);
        h = g_handler;
    }
    if (h) {
        h(level, message);
        return;
    }
    std::string line = std::string("aiocpp ") + level_name(level) + ": " + std::string(message) + "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace aio
