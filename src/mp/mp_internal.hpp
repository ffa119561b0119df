// What the processes layer's sources share. Not API.
#pragma once

#include <exception>
#include <string>

namespace aio::mp::detail {

/// In a freshly forked child: drops the parent's lifeline and child list, takes `name`.
/// Async-signal-safe enough for a fork of a threaded parent: no lock is taken.
void after_fork_in_child(const std::string& name) noexcept;
/// Kills this process when its parent is gone: a thread blocked reading the lifeline's read end.
void watch_lifeline(int fd);
/// Flushes the standard streams and _exit()s: a child never runs its parent's atexit handlers or
/// static destructors.
[[noreturn]] void child_exit(int code) noexcept;
/// Prints "Process NAME (pid N) failed: Type: message" to stderr.
void report_child_exception(const std::string& name, std::exception_ptr e) noexcept;

}  // namespace aio::mp::detail
