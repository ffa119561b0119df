// The client side of an MPI executor: calls queued by the users' threads, sent to the workers two
// at a time each (so that a worker finishing one call has the next already), replies matched to
// their futures, and workers that fall silent while holding calls declared lost.
#include <unistd.h>

#include <climits>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "runtime.hpp"

namespace aio::mpi::detail {

namespace {
// Calls held by one worker at a time: one running and one waiting behind it hides the round trip
// between two short calls; more would only make cancel() fail more often.
constexpr size_t kDepth = 2;

std::string this_executable() {
    char buf[PATH_MAX];
    const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) throw Error("aio::mpi: cannot find this program's executable (/proc/self/exe) to spawn workers");
    return std::string(buf, static_cast<size_t>(n));
}

/// mpi4py's default: AIO_MPI_MAX_WORKERS, else the universe's free slots, at least one.
int default_workers() {
    if (const char* env = std::getenv("AIO_MPI_MAX_WORKERS")) {
        char* end = nullptr;
        const long v = std::strtol(env, &end, 10);
        if (end == env || *end || v < 1 || v > 1 << 20)
            throw Error(std::string("aio::mpi: AIO_MPI_MAX_WORKERS must be a positive number, not '") + env + "'");
        return static_cast<int>(v);
    }
    int* universe = nullptr;
    int flag = 0;
    MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_UNIVERSE_SIZE, &universe, &flag);
    int size = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (flag && universe && *universe - size >= 1) return *universe - size;
    return 1;
}

/// Ends the process if MPI_Comm_spawn has not returned in time: a worker that never starts MPI
/// would otherwise hang it (and this whole process) forever.
class SpawnWatchdog {
public:
    SpawnWatchdog(std::chrono::milliseconds timeout, int n) {
        thread_ = std::thread([this, timeout, n] {
            std::unique_lock lk(m_);
            if (cv_.wait_for(lk, timeout, [&] { return done_; })) return;
            std::fprintf(stderr,
                         "aio::mpi: %d spawned worker(s) did not start MPI within %lld ms. Does main() call "
                         "aio::mpi::freeze_support() first? Exiting.\n",
                         n, static_cast<long long>(timeout.count()));
            std::fflush(stderr);
            _exit(1);
        });
    }
    ~SpawnWatchdog() {
        {
            std::lock_guard lk(m_);
            done_ = true;
        }
        cv_.notify_one();
        thread_.join();
    }

private:
    std::mutex m_;
    std::condition_variable cv_;
    bool done_ = false;
    std::thread thread_;
};
}  // namespace

Client::Client(PoolOptions options) : options_(std::move(options)), spawned_(true), lost_after_(options_.lost_after) {}

Client::Client(MPI_Comm comm, int self, std::chrono::milliseconds lost_after)
    : spawned_(false), comm_(comm), self_(self), lost_after_(lost_after) {}

Client::~Client() = default;

void Client::ensure_started() {
    auto& rt = Runtime::get();  // first: if MPI cannot start, nothing is marked as started
    {
        std::lock_guard lk(m_);
        if (start_requested_) return;
        start_requested_ = true;
    }
    rt.post([self = shared_from_this(), &rt] { self->start(rt); });
}

void Client::spawn(Runtime&) {
    const int n = options_.max_workers ? *options_.max_workers : default_workers();
    if (n < 1) throw Error("aio::mpi: MPIPoolExecutor needs max_workers of at least 1, not " + std::to_string(n));
    const std::string exe = this_executable();
    MPI_Info info = MPI_INFO_NULL;
    if (!options_.info.empty()) {
        MPI_Info_create(&info);
        for (const auto& [k, v] : options_.info) MPI_Info_set(info, k.c_str(), v.c_str());
    }
    std::string flag = kWorkerFlag;
    char* argv[] = {flag.data(), nullptr};
    std::vector<int> errcodes(static_cast<size_t>(n));
    int rc = MPI_SUCCESS;
    {
        SpawnWatchdog watchdog(options_.spawn_timeout, n);
        rc = MPI_Comm_spawn(exe.c_str(), argv, n, info, 0, MPI_COMM_SELF, &comm_, errcodes.data());
    }
    if (info != MPI_INFO_NULL) MPI_Info_free(&info);
    if (rc != MPI_SUCCESS) {
        comm_ = MPI_COMM_NULL;
        throw Error(mpi_error(("MPI_Comm_spawn of " + std::to_string(n) + " worker(s)").c_str(), rc) +
                    ". Open MPI spawns no more processes than it has slots (cores): on a small machine set "
                    "OMPI_MCA_rmaps_base_oversubscribe=1, or give hosts with PoolOptions::info {\"host\", ...}");
    }
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
}

void Client::start(Runtime& rt) {
    try {
        int size = 0;
        if (spawned_) {
            spawn(rt);
            MPI_Comm_remote_size(comm_, &size);
            for (int r = 0; r < size; ++r) workers_.push_back(Worker{r, -1, {}, {}, {}});
        } else {
            MPI_Comm_size(comm_, &size);
            for (int r = 0; r < size; ++r)
                if (r != self_) workers_.push_back(Worker{r, -1, {}, {}, {}});
        }
        for (auto& w : workers_) {
            mp::Writer msg;
            msg.put<int64_t>(lost_after_.count());
            rt.isend(comm_, w.rank, kTagWelcome, msg.take());
        }
    } catch (...) {
        break_pool(std::current_exception());
        return;
    }
    const auto now = Clock::now();
    for (auto& w : workers_) w.last_heard = now;
    rt.add(shared_from_this());
    std::lock_guard lk(m_);
    num_workers_ = static_cast<int>(workers_.size());
    pids_.assign(workers_.size(), -1);
}

void Client::submit(const char* name, bool chunk, std::unique_ptr<Sink> sink) {
    {
        std::lock_guard lk(m_);
        if (broken_) std::rethrow_exception(broken_);
        if (closing_) throw RuntimeError("cannot schedule new futures after shutdown");
    }
    ensure_started();
    {
        // Checked again where the call is queued: a shutdown between the two would otherwise
        // finish the client with this call still in the inbox, never answered.
        std::lock_guard lk(m_);
        if (broken_) std::rethrow_exception(broken_);  // the start may have failed meanwhile
        if (closing_) throw RuntimeError("cannot schedule new futures after shutdown");
        inbox_.push_back(Call{next_id_++, name, chunk, std::move(sink)});
    }
    Runtime::get().wake();
}

void Client::bootup() {
    {
        std::lock_guard lk(m_);
        if (broken_) std::rethrow_exception(broken_);
        if (closing_ && !ready_) throw RuntimeError("cannot bootup after shutdown");
    }
    auto& rt = Runtime::get();
    if (rt.on_progress_thread())
        throw RuntimeError("aio::mpi: cannot wait for workers on the MPI progress thread (in a done callback or a task)");
    ensure_started();
    std::unique_lock lk(m_);
    cv_.wait(lk, [&] { return ready_ || broken_ || done_; });
    if (broken_) std::rethrow_exception(broken_);
    if (!ready_) throw RuntimeError("cannot bootup after shutdown");
}

int Client::num_workers() {
    bootup();
    std::lock_guard lk(m_);
    return num_workers_;
}

std::vector<int> Client::worker_pids() {
    bootup();
    std::lock_guard lk(m_);
    return pids_;
}

void Client::shutdown(bool wait, bool cancel_futures) noexcept {
    {
        std::lock_guard lk(m_);
        closing_ = true;
        if (cancel_futures) cancel_requested_ = true;
        if (!start_requested_) {
            done_ = true;  // no worker was ever started
            return;
        }
    }
    try {
        Runtime::get().wake();
    } catch (...) {
        return;  // the runtime never started, so neither did this client
    }
    if (!wait) return;
    // On the progress thread (a done callback, a task) the wait could never end: do not wait.
    if (Runtime::get().on_progress_thread()) return;
    std::unique_lock lk(m_);
    cv_.wait(lk, [&] { return done_; });
}

bool Client::active() const { return !in_flight_.empty() || !pending_.empty() || hellos_ < workers_.size(); }

bool Client::poll(Runtime& rt, Clock::time_point now) {
    if (finished_) return false;
    bool progress = false;
    bool closing = false;
    bool cancel = false;
    {
        std::lock_guard lk(m_);
        if (!inbox_.empty()) {
            progress = true;
            for (auto& c : inbox_) pending_.push_back(std::move(c));
            inbox_.clear();
        }
        closing = closing_;
        cancel = std::exchange(cancel_requested_, false);
    }
    if (cancel) {
        for (auto& c : pending_) c.sink->abandon(nullptr);
        pending_.clear();
    }
    try {
        progress |= receive_all(comm_, [&](int source, int tag, const std::string& buf) {
            if (!finished_) on_message(rt, source, tag, buf, now);
        });
        if (finished_) return true;
        check_lost(now);
        if (finished_) return true;
        dispatch(rt, now);
        if (closing && pending_.empty() && in_flight_.empty()) {
            for (auto& w : workers_) rt.isend(comm_, w.rank, kTagStop, {});
            finish(rt, true);
            return true;
        }
    } catch (...) {
        stop_workers(rt);
        break_pool(std::current_exception());
        return true;
    }
    return progress;
}

void Client::on_message(Runtime&, int source, int tag, const std::string& buf, Clock::time_point now) {
    // Workers are the ranks in order, less the client's own in a CommExecutor: no search per reply.
    const size_t wi = static_cast<size_t>(spawned_ || source < self_ ? source : source - 1);
    if (source < 0 || wi >= workers_.size() || workers_[wi].rank != source) return;  // not one of ours
    Worker& w = workers_[wi];
    w.last_heard = now;
    mp::Reader r(buf);
    switch (tag) {
        case kTagHello: {
            const auto pid = r.get<int32_t>();
            auto host = r.get<std::string>();
            auto error = r.get<std::string>();
            if (!error.empty()) {
                break_pool(std::make_exception_ptr(BrokenMPIPool(error, w.rank)));
                return;
            }
            w.pid = pid;
            w.host = std::move(host);
            ++hellos_;
            {
                std::lock_guard lk(m_);
                pids_[wi] = pid;
                ready_ = hellos_ == workers_.size();
            }
            cv_.notify_all();
            return;
        }
        case kTagResult: {
            const auto id = r.get<uint64_t>();
            auto it = in_flight_.find(id);
            if (it == in_flight_.end()) throw mp::SerializationError("aio::mpi: a reply for an unknown call " + std::to_string(id));
            auto sink = std::move(it->second.sink);
            in_flight_.erase(it);
            if (!w.held.empty() && w.held.front() == id) w.held.pop_front();
            else std::erase(w.held, id);
            try {
                const auto kind = r.get<uint8_t>();
                if (kind == kReplyRan) sink->succeed(r, w.rank);
                else sink->fail(std::make_exception_ptr(Error(r.get<std::string>())));
            } catch (...) {
                sink->fail(std::current_exception());
            }
            return;
        }
        case kTagHeartbeat:
            return;
        default:
            throw mp::SerializationError("aio::mpi: a message with tag " + std::to_string(tag) + " from rank " +
                                         std::to_string(source));
    }
}

void Client::dispatch(Runtime& rt, Clock::time_point now) {
    while (!pending_.empty()) {
        size_t best = 0;
        for (size_t i = 1; i < workers_.size(); ++i)
            if (workers_[i].held.size() < workers_[best].held.size()) best = i;
        Worker& w = workers_[best];
        if (w.held.size() >= kDepth) return;
        Call c = std::move(pending_.front());
        pending_.pop_front();
        mp::Writer msg;
        msg.put<uint64_t>(c.id);
        msg.put<uint8_t>(c.chunk ? 1 : 0);
        const size_t len = std::strlen(c.name);  // as a std::string is encoded
        msg.put_size(len);
        msg.write(c.name, len);
        bool started = false;
        try {
            started = c.sink->start(msg);
        } catch (...) {  // a future the user completed by hand: that call alone fails
            c.sink->fail(std::current_exception());
            continue;
        }
        if (!started) continue;  // every future of it was cancelled
        if (msg.size() > static_cast<size_t>(INT_MAX)) {
            c.sink->fail(std::make_exception_ptr(Error("aio::mpi: a call's arguments take " + std::to_string(msg.size()) +
                                                       " bytes; one MPI message carries at most 2 GiB")));
            continue;
        }
        if (w.held.empty()) w.last_heard = now;  // silence counts only while it holds calls
        // In flight before the send: if the send throws, break_pool() fails it with the rest.
        w.held.push_back(c.id);
        const uint64_t id = c.id;
        in_flight_.emplace(id, InFlight{std::move(c.sink), best});
        rt.isend(comm_, w.rank, kTagTask, msg.take());
    }
}

void Client::check_lost(Clock::time_point now) {
    for (auto& w : workers_) {
        if (w.held.empty() || now - w.last_heard <= lost_after_) continue;
        const auto silent = std::chrono::duration_cast<std::chrono::milliseconds>(now - w.last_heard).count();
        std::string who = "MPI rank " + std::to_string(w.rank);
        if (w.pid > 0) who += " (pid " + std::to_string(w.pid) + " on " + w.host + ")";
        break_pool(std::make_exception_ptr(BrokenMPIPool(
            who + " was lost: not heard from for " + std::to_string(silent) + " ms while it held " +
                std::to_string(w.held.size()) + " call(s); the pool is broken",
            w.rank)));
        return;
    }
}

void Client::stop_workers(Runtime& rt) noexcept {
    // A break the workers did not cause (a bad reply, a failed send): they are alive and would
    // serve forever (a CommExecutor's ranks, in their constructor). Tell them to stop; the
    // communicator is left as it is (disconnecting waits for every peer).
    for (auto& w : workers_) {
        try {
            rt.isend(comm_, w.rank, kTagStop, {});
        } catch (...) {
        }
    }
}

void Client::break_pool(std::exception_ptr why) noexcept {
    std::deque<Call> queued;
    {
        std::lock_guard lk(m_);
        if (!broken_) broken_ = why;
        queued.swap(inbox_);
        done_ = true;
    }
    cv_.notify_all();
    for (auto& [id, f] : in_flight_) f.sink->fail(why);
    in_flight_.clear();
    for (auto& c : pending_) c.sink->abandon(why);
    pending_.clear();
    for (auto& c : queued) c.sink->abandon(why);
    for (auto& w : workers_) w.held.clear();
    // The communicator is not released: its peers may be dead, and disconnecting waits for them.
    finished_ = true;
}

void Client::finish(Runtime&, bool disconnect) noexcept {
    if (comm_ != MPI_COMM_NULL) {
        if (spawned_ && disconnect) MPI_Comm_disconnect(&comm_);
        else if (disconnect) MPI_Comm_free(&comm_);
        comm_ = MPI_COMM_NULL;
    }
    finished_ = true;
    {
        std::lock_guard lk(m_);
        done_ = true;
    }
    cv_.notify_all();
}

void Client::close_at_exit(Runtime& rt) noexcept {
    if (finished_) return;
    const bool idle = in_flight_.empty();
    try {
        for (auto& w : workers_) rt.isend(comm_, w.rank, kTagStop, {});
    } catch (...) {
    }
    break_pool(std::make_exception_ptr(RuntimeError("aio::mpi: the process is exiting")));
    // Workers that were idle stop and disconnect; waiting for busy ones could hang the exit.
    if (idle && comm_ != MPI_COMM_NULL) finish(rt, true);
}

}  // namespace aio::mpi::detail
