// The non-template parts of the asyncio <-> threads bridge.
#include "aio/threads/bridge.hpp"

namespace aio::detail {

Executor& default_executor_of(EventLoop& loop) {
    if (const auto& ex = loop.default_executor()) return *ex;
    auto ex = std::make_shared<ThreadPoolExecutor>(std::nullopt, "asyncio");
    loop.set_default_executor(ex);
    return *ex;
}

void CoroLink::fire(CFCore& f) noexcept {
    if (f.status() == CFCore::cancelled) {
        add_ref();
        post([ref = LinkRef<CoroLink>(this)] {
            if (TaskCore* t = ref->task_) t->cancel(nullptr);
        });
    }
    release();  // the callback list's reference
}

}  // namespace aio::detail
