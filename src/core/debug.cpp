#include "aio/core/debug.hpp"

#include <string>

#include "aio/core/task.hpp"

namespace aio {

void dump_tasks(std::ostream& out, const EventLoop& loop) {
    const auto tasks = detail::LoopAccess::tasks_in_creation_order(loop);
    out << tasks.size() << " pending task(s)\n";
    for (detail::TaskCore* t : tasks) {
        out << "- task '" << t->name() << "': ";
        if (t == detail::tls_current_task) out << "running";
        else if (t->scheduled_) out << (t->started_ ? "ready to resume" : "scheduled, not started");
        else if (t->waiting_) {
            std::string w;
            t->waiting_->describe(w);
            out << w;
        } else out << "suspended on a foreign awaitable";
        if (t->must_cancel_) out << " [cancellation pending]";
        out << '\n';
        for (detail::PromiseBase* p = t->innermost_; p; p = p->parent_)
            out << "    at " << p->loc_.function << " (" << p->loc_.file << ':' << p->loc_.line << ")\n";
    }
}

void dump_tasks(std::ostream& out) { dump_tasks(out, get_running_loop()); }

}  // namespace aio
