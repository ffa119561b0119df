// The progress thread: MPI's only caller in this process, woken by the users' threads and
// polling with back-off while anything is in flight (MPI offers no descriptor to wait on).
#include "runtime.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace aio::mpi::detail {

namespace {
// Poll flat out for this long after the last progress: a reply to a short task lands within it
// (polling for only 100 us made a round trip 9x slower on two cores: 356 us against 39 us). Then
// sleep an eighth of the time waited so far, up to kMaxSleep: the wait costs at most ~12 % in
// latency, and a thread waiting on a long task wakes about a thousand times a second.
constexpr auto kSpin = std::chrono::microseconds(1000);
constexpr auto kMaxSleep = std::chrono::microseconds(1000);
}  // namespace

std::string mpi_error(const char* what, int rc) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) len = 0;
    return std::string("aio::mpi: ") + what + " failed: " + (len ? std::string(text, static_cast<size_t>(len)) : "error " + std::to_string(rc));
}

Runtime& Runtime::get() {
    static Runtime rt;
    return rt;
}

Runtime::Runtime() {
    std::promise<void> ready;
    auto started = ready.get_future();
    thread_ = std::thread([this, &ready] { main(ready); });
    try {
        started.get();
    } catch (...) {
        thread_.join();
        throw;
    }
}

Runtime::~Runtime() {
    {
        std::lock_guard lk(m_);
        stop_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
}

void Runtime::post(std::function<void()> fn) {
    {
        std::lock_guard lk(m_);
        inbox_.push_back(std::move(fn));
    }
    cv_.notify_one();
}

void Runtime::wake() {
    {
        std::lock_guard lk(m_);
        wake_ = true;
    }
    cv_.notify_one();
}

void Runtime::add(std::shared_ptr<Link> link) { links_.push_back(std::move(link)); }

void Runtime::isend(MPI_Comm comm, int dest, int tag, std::string data) {
    auto& s = sends_.emplace_back(PendingSend{MPI_REQUEST_NULL, std::move(data)});
    const int rc = MPI_Isend(s.data.data(), static_cast<int>(s.data.size()), MPI_BYTE, dest, tag, comm, &s.req);
    if (rc != MPI_SUCCESS) {
        sends_.pop_back();
        throw Error(mpi_error("MPI_Isend", rc));
    }
}

void Runtime::flush_sends() {
    for (auto& s : sends_) MPI_Wait(&s.req, MPI_STATUS_IGNORE);
    sends_.clear();
}

bool Runtime::test_sends() {
    bool any = false;
    for (auto it = sends_.begin(); it != sends_.end();) {
        int flag = 0;
        // An error (a peer gone) also completes the request: its link finds out on its own.
        if (MPI_Test(&it->req, &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS || flag) {
            it = sends_.erase(it);
            any = true;
        } else {
            ++it;
        }
    }
    return any;
}

void Runtime::init() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (initialized) {
        int provided = MPI_THREAD_SINGLE;
        MPI_Query_thread(&provided);
        if (provided < MPI_THREAD_SERIALIZED)
            throw Error("aio::mpi: MPI was initialised with a thread level below MPI_THREAD_SERIALIZED; initialise it with "
                        "MPI_Init_thread(..., MPI_THREAD_SERIALIZED, ...) (and make no MPI call while an executor is in use), "
                        "or leave the initialisation to aio::mpi");
    } else {
        // This thread makes the MPI calls, but a worker's heartbeat thread sends while a task runs
        // here (never at the same time: mpi_m_): SERIALIZED.
        int provided = MPI_THREAD_SINGLE;
        const int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
        if (rc != MPI_SUCCESS) throw Error(mpi_error("MPI_Init_thread", rc));
        owns_mpi_ = true;
        if (provided < MPI_THREAD_SERIALIZED)
            throw Error("aio::mpi: this MPI library does not provide MPI_THREAD_SERIALIZED");
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN);
    MPI_Comm_get_parent(&parent_);
    if (parent_ != MPI_COMM_NULL) MPI_Comm_set_errhandler(parent_, MPI_ERRORS_RETURN);
    if (parent_ != MPI_COMM_NULL && spawned_without_freeze_support()) {
        // The program's main() is running as a worker and would do the client's work again
        // (spawning workers of its own): tell the client why this worker will never serve.
        const std::string why =
            "aio::mpi: a spawned worker ran main() instead of serving: main() must call aio::mpi::freeze_support() "
            "before anything else";
        std::fprintf(stderr, "%s\n", why.c_str());
        mp::Writer hello;
        hello.put<int32_t>(static_cast<int32_t>(getpid()));
        hello.put(std::string());
        hello.put(why);
        MPI_Send(hello.buffer().data(), static_cast<int>(hello.size()), MPI_BYTE, 0, kTagHello, parent_);
        std::fflush(stderr);
        _exit(1);
    }
}

void Runtime::main(std::promise<void>& ready) {
    try {
        init();
    } catch (...) {
        ready.set_exception(std::current_exception());
        return;
    }
    ready.set_value();

    auto last_progress = Clock::now();
    std::unique_lock lk(m_);
    for (;;) {
        auto jobs = std::exchange(inbox_, {});
        wake_ = false;
        const bool stopping = stop_;
        lk.unlock();
        std::unique_lock mpi(mpi_m_);

        bool progress = !jobs.empty();
        for (auto& j : jobs) {
            try {
                j();
            } catch (...) {  // a job reports its own errors; this is a last resort
                std::fprintf(stderr, "aio::mpi: progress thread: %s\n", mp::exception_message(std::current_exception()).c_str());
            }
        }
        jobs.clear();
        const auto now = Clock::now();
        bool active = false;
        for (size_t i = 0; i < links_.size();) {
            try {
                progress |= links_[i]->poll(*this, now);
            } catch (...) {  // a link handles its own errors; this is a last resort, not a crash
                std::fprintf(stderr, "aio::mpi: progress thread: %s\n", mp::exception_message(std::current_exception()).c_str());
            }
            if (links_[i]->finished()) {
                links_.erase(links_.begin() + static_cast<std::ptrdiff_t>(i));
                continue;
            }
            active |= links_[i]->active();
            ++i;
        }
        progress |= test_sends();
        active |= !sends_.empty();

        if (stopping) {
            for (auto& l : links_) l->close_at_exit(*this);
            links_.clear();
            // Whatever is still unsent is given up: its peer is gone or will be stopped anyway.
            for (auto& s : sends_) {
                int flag = 0;
                MPI_Test(&s.req, &flag, MPI_STATUS_IGNORE);
            }
            int finalized = 0;
            MPI_Finalized(&finalized);
            if (owns_mpi_ && !finalized) MPI_Finalize();
            return;
        }

        mpi.unlock();
        lk.lock();
        if (!inbox_.empty() || wake_ || stop_) continue;
        if (progress) last_progress = now;
        const auto waited = Clock::now() - last_progress;
        if (!active && waited >= kSpin) {
            cv_.wait(lk, [&] { return !inbox_.empty() || wake_ || stop_; });
            last_progress = Clock::now();
            continue;
        }
        // Spinning also for a while after the last call came back: the next submit is often
        // right behind it, and finds this thread awake.
        if (waited < kSpin) {
            lk.unlock();
            std::this_thread::yield();  // on a machine with fewer cores than threads, let the others run
            lk.lock();
            continue;
        }
        const auto sleep = std::min<Clock::duration>(waited / 8, kMaxSleep);
        cv_.wait_for(lk, sleep, [&] { return !inbox_.empty() || wake_ || stop_; });
    }
}

}  // namespace aio::mpi::detail
