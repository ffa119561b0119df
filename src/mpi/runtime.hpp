// The MPI layer's insides: one progress thread per process makes the MPI calls and drives the
// links — the client side of each executor, and the serving side of a worker rank, whose tasks it
// runs itself. The one exception is a worker's heartbeat, sent by a second thread while a task
// runs, under a mutex: so MPI is asked for MPI_THREAD_SERIALIZED. Not API.
#pragma once

#include <mpi.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "aio/mpi/executor.hpp"

namespace aio::mpi::detail {

using Clock = std::chrono::steady_clock;

/// Message tags. Every message is bytes (MPI_BYTE), encoded with aio::mp::Writer.
enum Tag : int {
    kTagWelcome = 7101,  // client -> worker: int64 lost_after in ms
    kTagHello,           // worker -> client: int32 pid, string host, string error ("" when well)
    kTagTask,            // client -> worker: u64 id, u8 chunk, string function name, arguments
    kTagResult,          // worker -> client: u64 id, u8 kReplyRan + outcomes | kReplyError + message
    kTagHeartbeat,       // worker -> client, while it holds tasks: empty
    kTagStop,            // client -> worker: empty
};
enum : uint8_t { kReplyRan = 0, kReplyError = 1 };

/// The argument that marks a process spawned by MPIPoolExecutor.
inline constexpr const char* kWorkerFlag = "--aio-mpi-worker";

class Runtime;

/// Something the progress thread drives. Every method runs on the progress thread.
class Link {
public:
    virtual ~Link() = default;
    /// Receives what arrived and does what is due; true if anything happened.
    virtual bool poll(Runtime& rt, Clock::time_point now) = 0;
    /// Something is in flight: the progress thread keeps polling (with back-off) instead of
    /// sleeping until it is woken.
    [[nodiscard]] virtual bool active() const = 0;
    /// Done: the progress thread drops it.
    [[nodiscard]] virtual bool finished() const = 0;
    /// The process is exiting with this link still open: end it without waiting for peers.
    virtual void close_at_exit(Runtime& rt) noexcept = 0;
};

/// "MPI_Comm_spawn: <MPI's text for rc>".
std::string mpi_error(const char* what, int rc);

class Runtime {
public:
    /// The process's runtime, started (with MPI) at the first call. Throws aio::mpi::Error if MPI
    /// cannot be used.
    static Runtime& get();

    /// Runs `fn` on the progress thread, in order, waking it.
    void post(std::function<void()> fn);
    /// Runs `fn` on the progress thread and waits; rethrows what it threw.
    template <class F>
    auto call(F fn) -> decltype(fn()) {
        using R = decltype(fn());
        if (on_progress_thread()) return fn();  // waiting for itself would never end
        auto p = std::make_shared<std::promise<R>>();
        auto fut = p->get_future();
        post([p, fn = std::move(fn)]() mutable {
            try {
                if constexpr (std::is_void_v<R>) {
                    fn();
                    p->set_value();
                } else {
                    p->set_value(fn());
                }
            } catch (...) {
                p->set_exception(std::current_exception());
            }
        });
        return fut.get();
    }
    /// Wakes the progress thread (a link has new work in its own queue).
    void wake();

    // --- progress thread only ---
    void add(std::shared_ptr<Link> link);
    /// Sends `data`, keeping it until MPI is done with it.
    void isend(MPI_Comm comm, int dest, int tag, std::string data);
    /// Waits until every send is complete.
    void flush_sends();
    /// The intercommunicator to the client that spawned this process; MPI_COMM_NULL if none.
    [[nodiscard]] MPI_Comm parent() const noexcept { return parent_; }
    /// Whether this runtime called MPI_Init (and so calls MPI_Finalize at exit).
    [[nodiscard]] bool owns_mpi() const noexcept { return owns_mpi_; }
    /// Held by the progress thread while it calls MPI. A worker's progress thread lets go of it
    /// while it runs a task, so that its heartbeat thread can send (MPI_THREAD_SERIALIZED).
    [[nodiscard]] std::mutex& mpi_mutex() noexcept { return mpi_m_; }
    [[nodiscard]] bool on_progress_thread() const noexcept { return std::this_thread::get_id() == thread_.get_id(); }

    ~Runtime();
    Runtime(const Runtime&) = delete;
    Runtime& operator=(const Runtime&) = delete;

private:
    Runtime();
    void main(std::promise<void>& ready);
    void init();
    bool test_sends();

    std::thread thread_;
    std::mutex mpi_m_;
    std::mutex m_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> inbox_;
    bool wake_ = false;
    bool stop_ = false;

    // Progress thread only.
    struct PendingSend {
        MPI_Request req;
        std::string data;
    };
    std::list<PendingSend> sends_;  // a list: MPI holds the address of each one's bytes
    std::vector<std::shared_ptr<Link>> links_;
    MPI_Comm parent_ = MPI_COMM_NULL;
    bool owns_mpi_ = false;
};

/// Receives every message waiting on `comm`: handle(source, tag, bytes). MPI errors throw.
template <class H>
bool receive_all(MPI_Comm comm, H&& handle) {
    bool any = false;
    for (;;) {
        int flag = 0;
        MPI_Message msg;
        MPI_Status st;
        int rc = MPI_Improbe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm, &flag, &msg, &st);
        if (rc != MPI_SUCCESS) throw Error(mpi_error("MPI_Improbe", rc));
        if (!flag) return any;
        int n = 0;
        MPI_Get_count(&st, MPI_BYTE, &n);
        std::string buf(static_cast<size_t>(n), '\0');
        rc = MPI_Mrecv(buf.data(), n, MPI_BYTE, &msg, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) throw Error(mpi_error("MPI_Mrecv", rc));
        any = true;
        handle(st.MPI_SOURCE, st.MPI_TAG, buf);
    }
}

/// The client side of one executor: its workers, the calls waiting and in flight.
class Client final : public Link, public std::enable_shared_from_this<Client> {
public:
    /// A pool that spawns its workers when first used.
    explicit Client(PoolOptions options);
    /// Workers already running: the ranks of `comm` (owned, freed at the end) other than `self`.
    Client(MPI_Comm comm, int self, std::chrono::milliseconds lost_after);
    ~Client() override;

    // --- any thread ---
    /// `name` is the registry's (it outlives the call).
    void submit(const char* name, bool chunk, std::unique_ptr<Sink> sink);
    /// Starts the workers if not yet, and waits until they are (or failed).
    void bootup();
    void shutdown(bool wait, bool cancel_futures) noexcept;
    [[nodiscard]] int num_workers();
    [[nodiscard]] std::vector<int> worker_pids();

    // --- progress thread ---
    bool poll(Runtime& rt, Clock::time_point now) override;
    [[nodiscard]] bool active() const override;
    [[nodiscard]] bool finished() const override { return finished_; }
    void close_at_exit(Runtime& rt) noexcept override;

private:
    struct Call {
        uint64_t id;
        const char* name;
        bool chunk;
        std::unique_ptr<Sink> sink;
    };
    struct Worker {
        int rank;
        int pid = -1;
        std::string host;
        std::deque<uint64_t> held;  // ids sent and not yet answered, in order
        Clock::time_point last_heard;
    };
    struct InFlight {
        std::unique_ptr<Sink> sink;
        size_t worker;
    };

    void ensure_started();
    void start(Runtime& rt);  // progress thread: spawn (pool) and greet the workers
    void spawn(Runtime& rt);
    void on_message(Runtime& rt, int source, int tag, const std::string& buf, Clock::time_point now);
    void dispatch(Runtime& rt, Clock::time_point now);
    void check_lost(Clock::time_point now);
    void break_pool(std::exception_ptr why) noexcept;
    void stop_workers(Runtime& rt) noexcept;
    void finish(Runtime& rt, bool disconnect) noexcept;

    // Fixed before the workers start.
    PoolOptions options_;
    bool spawned_;  // a pool's own workers (an intercommunicator) rather than a CommExecutor's
    MPI_Comm comm_ = MPI_COMM_NULL;
    int self_ = 0;
    std::chrono::milliseconds lost_after_;

    // Shared with the users' threads.
    mutable std::mutex m_;
    std::condition_variable cv_;
    std::deque<Call> inbox_;
    uint64_t next_id_ = 1;
    bool start_requested_ = false;
    bool ready_ = false;    // every worker has said hello
    bool closing_ = false;  // shutdown called: no more submits
    bool cancel_requested_ = false;
    bool done_ = false;  // workers stopped (or broken), communicator released
    std::exception_ptr broken_;
    std::vector<int> pids_;
    int num_workers_ = 0;

    // Progress thread only.
    std::vector<Worker> workers_;
    std::deque<Call> pending_;
    std::unordered_map<uint64_t, InFlight> in_flight_;
    size_t hellos_ = 0;
    bool finished_ = false;
};

/// Serves tasks from the client `client` of `comm` until it says stop; the calling thread waits.
/// The progress thread receives the calls, runs them and sends the replies. With `disconnect`
/// (a spawned worker) the intercommunicator is disconnected at the end, else freed.
void serve(MPI_Comm comm, int client, bool disconnect);

/// This process was spawned as a worker, but main() did not start with freeze_support().
bool spawned_without_freeze_support();

}  // namespace aio::mpi::detail
