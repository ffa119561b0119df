// The worker side: the progress thread receives calls and sends replies and heartbeats; the
// serving thread (main() in a spawned worker, the CommExecutor constructor on a worker rank) runs
// the calls one at a time, so a long call never keeps the worker from being heard.
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "runtime.hpp"

namespace aio::mpi::detail {

namespace {

std::atomic<bool> g_serving{false};

std::string host_name() {
    char buf[256] = {};
    if (gethostname(buf, sizeof buf - 1) != 0) return "?";
    return buf;
}

std::string run_call(const std::string& msg, int rank) noexcept;

class Server final : public Link {
public:
    Server(MPI_Comm comm, int client, bool disconnect) : comm_(comm), client_(client), disconnect_(disconnect) {}
    ~Server() override {
        if (heartbeat_thread_.joinable()) heartbeat_thread_.join();  // stopped by poll() or close_at_exit()
    }

    // --- the serving thread ---
    /// Waits until the client has said stop and the communicator is released.
    void wait_released() {
        std::unique_lock lk(m_);
        cv_.wait(lk, [&] { return released_; });
    }

    // --- the progress thread ---
    void start(Runtime& rt) {
        MPI_Comm_rank(comm_, &rank_);
        mp::Writer hello;
        hello.put<int32_t>(static_cast<int32_t>(getpid()));
        hello.put(host_name());
        hello.put(std::string());
        rt.isend(comm_, client_, kTagHello, hello.take());
        heartbeat_thread_ = std::thread([this, &rt] { heartbeats(rt); });
    }

    bool poll(Runtime& rt, Clock::time_point) override {
        if (released_flag_) return false;
        bool progress = false;
        try {
            progress |= receive_all(comm_, [&](int, int tag, std::string& buf) { on_message(tag, buf); });
        } catch (const std::exception& e) {
            // The client is gone: nothing can be served any more. Say so, and stop.
            std::fprintf(stderr, "aio::mpi: worker rank %d lost its client: %s\n", rank_, e.what());
            stop_ = true;
        }
        // The calls run here, one at a time, in order. While one runs, the MPI mutex is free for
        // the heartbeat thread.
        while (!calls_.empty()) {
            std::string msg = std::move(calls_.front());
            calls_.pop_front();
            std::string reply;
            {
                running_.store(true, std::memory_order_relaxed);
                rt.mpi_mutex().unlock();
                struct Relock {  // whatever happens in the call, the MPI mutex is held again after
                    Runtime& rt;
                    std::atomic<bool>& running;
                    ~Relock() {
                        rt.mpi_mutex().lock();
                        running.store(false, std::memory_order_relaxed);
                    }
                } relock{rt, running_};
                reply = run_call(msg, rank_);
            }
            progress = true;
            if (reply.empty()) continue;  // not even its id could be read: nobody to answer
            try {
                rt.isend(comm_, client_, kTagResult, std::move(reply));
                // A reply too big to be sent eagerly moves only while this thread calls MPI: let it
                // arrive before the next call runs, or it would wait for that whole call.
                if (!calls_.empty()) rt.flush_sends();
            } catch (const std::exception& e) {
                std::fprintf(stderr, "aio::mpi: worker rank %d cannot send a reply: %s\n", rank_, e.what());
            }
        }
        if (stop_) {
            stop_heartbeats(rt);
            // Disconnecting completes the replies still in flight; freeing leaves them to finish.
            if (disconnect_) MPI_Comm_disconnect(&comm_);
            else MPI_Comm_free(&comm_);
            release();
            progress = true;
        }
        return progress;
    }
    [[nodiscard]] bool active() const override { return !released_flag_; }
    [[nodiscard]] bool finished() const override { return released_flag_; }
    void close_at_exit(Runtime& rt) noexcept override {
        stop_heartbeats(rt);
        release();
    }

private:
    void on_message(int tag, std::string& buf) {
        switch (tag) {
            case kTagWelcome: {
                mp::Reader r(buf);
                const auto lost_after = std::chrono::milliseconds(r.get<int64_t>());
                {
                    std::lock_guard lk(m_);
                    heartbeat_ = std::max<Clock::duration>(lost_after / 5, std::chrono::milliseconds(10));
                    ++heartbeat_gen_;  // the heartbeat thread is sleeping the default period: cut it short
                }
                cv_.notify_all();
                return;
            }
            case kTagTask:
                calls_.push_back(std::move(buf));
                return;
            case kTagStop:
                stop_ = true;
                return;
            default:
                std::fprintf(stderr, "aio::mpi: worker rank %d ignores a message with tag %d\n", rank_, tag);
        }
    }

    /// While a call runs longer than a heartbeat period, tells the client this worker lives.
    void heartbeats(Runtime& rt) {
        std::unique_lock lk(m_);
        for (;;) {
            const auto period = heartbeat_;
            const auto gen = heartbeat_gen_;
            if (cv_.wait_for(lk, period, [&] { return hb_stop_ || heartbeat_gen_ != gen; })) {
                if (hb_stop_) return;
                continue;
            }
            if (!running_.load(std::memory_order_relaxed)) continue;
            lk.unlock();
            {
                std::lock_guard mpi(rt.mpi_mutex());
                if (running_.load(std::memory_order_relaxed)) {
                    MPI_Request req;
                    if (MPI_Isend(nullptr, 0, MPI_BYTE, client_, kTagHeartbeat, comm_, &req) == MPI_SUCCESS)
                        MPI_Request_free(&req);  // an empty message: nothing to keep alive
                }
            }
            lk.lock();
        }
    }
    /// Called holding the MPI mutex, which the heartbeat thread may be waiting for.
    void stop_heartbeats(Runtime& rt) noexcept {
        {
            std::lock_guard lk(m_);
            hb_stop_ = true;
        }
        cv_.notify_all();
        if (!heartbeat_thread_.joinable()) return;
        rt.mpi_mutex().unlock();
        heartbeat_thread_.join();
        rt.mpi_mutex().lock();
    }
    void release() noexcept {
        released_flag_ = true;
        {
            std::lock_guard lk(m_);
            released_ = true;
        }
        cv_.notify_all();
    }

    MPI_Comm comm_;
    const int client_;
    const bool disconnect_;

    std::mutex m_;
    std::condition_variable cv_;
    bool released_ = false;
    bool hb_stop_ = false;
    Clock::duration heartbeat_ = std::chrono::seconds(1);
    uint64_t heartbeat_gen_ = 0;
    std::atomic<bool> running_{false};
    std::thread heartbeat_thread_;

    // Progress thread only.
    int rank_ = -1;
    std::deque<std::string> calls_;
    bool stop_ = false;
    bool released_flag_ = false;
};

/// One call's reply: the id, then the outcomes (or why the call could not run at all). Empty if
/// the message has no id. Never throws.
std::string run_call(const std::string& msg, int rank) noexcept {
    mp::Reader in(msg);
    if (in.remaining() < sizeof(uint64_t)) {
        std::fprintf(stderr, "aio::mpi: worker rank %d got a call of %zu bytes, too short for an id\n", rank, msg.size());
        return {};
    }
    const auto id = in.get<uint64_t>();
    mp::Writer out;
    out.put(id);
    const size_t mark = out.size();
    try {
        const bool chunk = in.get<uint8_t>() != 0;
        const size_t len = in.get_size(1);
        const std::string_view name(in.take(len), len);
        const TaskEntry entry = find_task(name);
        if (!entry)
            throw Error("aio::mpi: the function '" + std::string(name) + "' is not registered on MPI rank " + std::to_string(rank) +
                        ": register it with AIO_MPI_REGISTER at namespace scope, so that every rank has it");
        out.put<uint8_t>(kReplyRan);
        entry(chunk, in, out);
    } catch (...) {
        out.buffer().resize(mark);
        out.put<uint8_t>(kReplyError);
        out.put(mp::exception_type_name(std::current_exception()) + ": " + mp::exception_message(std::current_exception()));
    }
    if (out.size() > static_cast<size_t>(INT_MAX)) {  // one MPI message carries at most 2 GiB
        out.buffer().resize(mark);
        out.put<uint8_t>(kReplyError);
        out.put(std::string("aio::mpi: the reply takes more than 2 GiB, more than one MPI message carries"));
    }
    return out.take();
}

bool has_worker_flag() {
    std::ifstream f("/proc/self/cmdline", std::ios::binary);
    std::string arg;
    std::getline(f, arg, '\0');  // argv[0]
    return std::getline(f, arg, '\0') && arg == kWorkerFlag;
}

}  // namespace

void serve(MPI_Comm comm, int client, bool disconnect) {
    auto& rt = Runtime::get();
    auto s = std::make_shared<Server>(comm, client, disconnect);
    rt.post([s, &rt] {
        try {
            s->start(rt);
            rt.add(s);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "aio::mpi: this worker cannot greet its client: %s\n", e.what());
            s->close_at_exit(rt);  // releases the serving thread
        }
    });
    s->wait_released();
}

bool spawned_without_freeze_support() { return !g_serving.load() && has_worker_flag(); }

}  // namespace aio::mpi::detail

namespace aio::mpi {

bool is_worker() noexcept { return detail::g_serving.load(); }

void freeze_support() {
    if (!detail::has_worker_flag()) return;
    detail::g_serving = true;
    auto& rt = detail::Runtime::get();
    const MPI_Comm parent = rt.call([&] { return rt.parent(); });
    if (parent == MPI_COMM_NULL) {
        std::fprintf(stderr, "aio::mpi: started with %s, but not by an MPIPoolExecutor (no parent job)\n", detail::kWorkerFlag);
        std::exit(2);
    }
    detail::serve(parent, 0, true);
    std::exit(0);
}

}  // namespace aio::mpi
