// Where aiocpp's diagnostics go (Python: the "asyncio" logger).
#pragma once

#include <functional>
#include <string_view>

namespace aio {

/// Severity of a diagnostic (Python: logging levels).
enum class LogLevel { debug, info, warning, error };

/// Receives every diagnostic aiocpp emits: slow-callback warnings, never-retrieved exceptions,
/// never-awaited coroutines, the default exception handler's reports. Thread-safe.
using LogHandler = std::function<void(LogLevel, std::string_view)>;

/// Replaces the log handler (nullptr restores the default, which writes one line to stderr).
/// Returns the previous handler. Python: logging.getLogger("asyncio").addHandler(...).
LogHandler set_log_handler(LogHandler handler);

/// Emits a diagnostic through the current handler.
void log(LogLevel level, std::string_view message);

}  // namespace aio
