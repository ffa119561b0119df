// aio::run_per_core — one event loop per core (issue #21): what a server outgrowing one core uses,
// as Seastar's shards or a Tokio runtime per core. Python has no counterpart in one process (the
// GIL): the nearest is gunicorn's or aiohttp's `web.run_app` under several worker processes, each
// with its own loop, all accepting on one port.
//
//   aio::run_per_core(0, [](size_t core) -> aio::Task<void> {   // 0: every core this process may use
//       aio::ServerOptions o;
//       o.reuse_port = true;                                     // each loop accepts its own share
//       auto server = co_await aio::start_server(on_client, "0.0.0.0", 8080, o);
//       co_await server.serve_forever();
//   });
//
// Shared nothing by default: each loop has its own tasks, timers, sockets and sync primitives
// (an aio::Lock or aio::Queue belongs to one loop). What crosses loops must be thread-safe:
// immutable data made before run_per_core (a frozen router, configuration), atomics, or
// messages through another loop's call_soon_threadsafe.
#pragma once

#include <cstddef>
#include <functional>

#include "aio/core/event_loop.hpp"
#include "aio/core/task.hpp"

namespace aio {

/// Options of run_per_core.
struct PerCoreOptions {
    PerCoreOptions() {}  // not an aggregate: see docs/design.md, "Compiler notes"
    /// Every loop's options (debug, backend, ...).
    LoopOptions loop;
    /// Pin loop i to the i-th CPU this process may run on (modulo their number), so that a
    /// loop keeps its caches and, with SO_REUSEPORT, its connections' packets stay on one core.
    bool pin = true;
    /// SIGINT and SIGTERM cancel every loop's main task (each shuts down as aio::run would);
    /// run_per_core then throws KeyboardInterrupt for SIGINT and returns for SIGTERM. Off: the
    /// caller handles signals.
    bool handle_signals = true;
};

/// Runs `main(i)` for i in [0, n) on n threads, each with its own event loop, and returns when
/// all have finished, as aio::run does for one (pending tasks cancelled, loops closed). n = 0:
/// one per CPU this process may run on. When one main fails, the others are cancelled and the
/// first exception is rethrown once all have ended. Blocks the calling thread, which must not
/// be running a loop (RuntimeError).
void run_per_core(size_t n, std::function<Task<void>(size_t index)> main, PerCoreOptions options = {});

/// The number of CPUs this process may run on (sched_getaffinity), at least 1.
size_t available_cpus() noexcept;

}  // namespace aio
