// The task registry (name <-> function) and the MPI layer's error types.
#include "aio/mpi/task.hpp"

#include <map>
#include <mutex>
#include <stdexcept>
#include <string>

#include "aio/mpi/errors.hpp"

namespace aio::mpi {

RemoteError::RemoteError(std::string type_name, std::string message, int rank)
    : mp::RemoteError(type_name, message, type_name + ": " + message + " (raised on MPI rank " + std::to_string(rank) + ")"),
      rank_(rank) {}

namespace detail {

namespace {
struct Registry {
    std::mutex m;
    std::map<std::string, TaskEntry, std::less<>> by_name;
    std::map<AnyFn, std::string> by_fn;
};
// A function-local static: registrations run during static initialisation, in any order.
Registry& registry() {
    static Registry r;
    return r;
}
}  // namespace

void register_task(const char* name, AnyFn fn, TaskEntry entry) {
    auto& r = registry();
    std::lock_guard lk(r.m);
    auto [it, inserted] = r.by_name.emplace(name, entry);
    if (!inserted) {
        auto f = r.by_fn.find(fn);
        if (f != r.by_fn.end() && f->second == name) return;
        throw std::invalid_argument(std::string("aio::mpi: another function is already registered as '") + name + "'");
    }
    r.by_fn.emplace(fn, name);
}

const char* task_name(AnyFn fn) {
    auto& r = registry();
    std::lock_guard lk(r.m);
    auto it = r.by_fn.find(fn);
    if (it == r.by_fn.end())
        throw Error("aio::mpi: this task function is not registered; add AIO_MPI_REGISTER(function) at namespace scope, "
                    "so that every rank knows it by name");
    return it->second.c_str();  // std::map nodes do not move
}

TaskEntry find_task(std::string_view name) noexcept {
    auto& r = registry();
    std::lock_guard lk(r.m);
    auto it = r.by_name.find(name);
    return it == r.by_name.end() ? nullptr : it->second;
}

void put_exception(mp::Writer& out, const std::exception_ptr& e) {
    out.put<uint8_t>(kRaised);
    out.put(mp::exception_type_name(e));
    out.put(mp::exception_message(e));
}

}  // namespace detail
}  // namespace aio::mpi
