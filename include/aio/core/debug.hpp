// aio::dump_tasks — "what is my program waiting for?", the question asyncio leaves open.
#pragma once

#include <ostream>

#include "aio/core/event_loop.hpp"

namespace aio {

/// Writes every unfinished task of `loop`: its name, whether it is running, scheduled or
/// waiting, what it waits on (a sleep until T, a future, another task, a gather, a lock...),
/// and its await stack, innermost coroutine first, as "function (file:line)".
void dump_tasks(std::ostream& out, const EventLoop& loop);
/// The same for the running loop.
void dump_tasks(std::ostream& out);

}  // namespace aio
