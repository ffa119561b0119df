// aio::run — asyncio.run: the entry point of an async program.
#pragma once

#include "aio/core/errors.hpp"
#include "aio/core/event_loop.hpp"
#include "aio/core/task.hpp"

namespace aio {

namespace detail {
/// Throws RuntimeError if a loop is running on this thread.
void check_not_in_loop();
/// Runs `main` to completion on `loop` with asyncio.Runner's rules (SIGINT, shutdown), then
/// closes the loop. Throws KeyboardInterrupt when SIGINT ended the main task.
void run_main(EventLoop& loop, TaskRef main);
}  // namespace detail

/// asyncio.run(main, debug=...): creates a loop, runs `main` to completion and returns its
/// result (or throws its exception). Then, like asyncio.run, cancels every task still pending,
/// waits for them, and closes the loop. On the main thread, if SIGINT has its default action,
/// a first Ctrl-C cancels the main task (run then throws KeyboardInterrupt) and a second one
/// kills the process the default way. Throws RuntimeError when called from a running loop.
template <class T>
T run(Task<T> main, LoopOptions options = {}) {
    detail::check_not_in_loop();
    EventLoop loop(options);
    TaskHandle<T> handle = loop.create_task(std::move(main), "main");
    detail::run_main(loop, handle);
    return handle.result();
}

}  // namespace aio
