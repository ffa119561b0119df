// aiocpp: Python's concurrency model (asyncio and friends) in C++20. This header includes the
// whole public API; docs/python-to-cpp.md maps every Python name to its aiocpp name.
#pragma once

#include "aio/core/async_generator.hpp"
#include "aio/core/debug.hpp"
#include "aio/core/errors.hpp"
#include "aio/core/event_loop.hpp"
#include "aio/core/executor.hpp"
#include "aio/core/future.hpp"
#include "aio/core/gather.hpp"
#include "aio/core/generator.hpp"
#include "aio/core/handle.hpp"
#include "aio/core/log.hpp"
#include "aio/core/run.hpp"
#include "aio/core/shield.hpp"
#include "aio/core/sleep.hpp"
#include "aio/core/task.hpp"
#include "aio/core/task_group.hpp"
#include "aio/core/timeout.hpp"
#include "aio/core/wait.hpp"
