// Which loops are alive: a finished future may be released after its loop is gone (a handle
// kept past aio::run), and a report must then go to the log rather than to a dead loop.
#pragma once

#include "aio/core/event_loop.hpp"

namespace aio::detail {

void register_loop(EventLoop* loop);
void unregister_loop(EventLoop* loop) noexcept;
/// Sends `ctx` to the loop's exception handler if the loop is alive and open, else to aio::log.
void report_to_loop(EventLoop* loop, const ExceptionContext& ctx) noexcept;

}  // namespace aio::detail
