// Process, the start methods, cpu_count and freeze_support. See aio/mp/process.hpp.
//
// Exit is watched through a pidfd (Linux >= 5.3): join(timeout) is a poll on it, and signals go
// through pidfd_send_signal, so a pid reused after the child was reaped can never be hit.
//
// The lifeline: the first start() creates one pipe whose write end only this process holds
// (children close it at once, exec closes it). Each child runs a small thread blocked reading the
// read end; the read returns only when every write end is closed, i.e. when the parent is gone,
// however it died, and then the child kills itself. PR_SET_PDEATHSIG cannot do this: it fires
// when the parent *thread* that forked exits, which would kill children started from a worker
// thread that finished.
#include "aio/mp/process.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "aio/core/errors.hpp"
#include "mp_internal.hpp"

extern char** environ;

namespace aio::mp {

namespace {

// ---- cpu_count ---------------------------------------------------------------------------------

/// The quota of one cgroup v2 directory's cpu.max ("max 100000" or "150000 100000"), in CPUs.
std::optional<double> cgroup_quota(const std::string& dir) {
    std::ifstream f(dir + "/cpu.max");
    std::string quota;
    long period = 0;
    if (!(f >> quota >> period) || quota == "max" || period <= 0) return std::nullopt;
    try {
        return std::stod(quota) / static_cast<double>(period);
    } catch (...) {
        return std::nullopt;
    }
}

// ---- the spawn registry --------------------------------------------------------------------------

struct Registry {
    std::mutex mu;
    std::map<std::string, detail::SpawnEntry, std::less<>> by_name;  // null: two functions share the name
    std::map<detail::AnyFn, const char*> by_fn;
};
Registry& registry() {
    static Registry r;
    return r;
}

// ---- the lifeline ------------------------------------------------------------------------------

std::atomic<int> g_lifeline_read{-1};
std::atomic<int> g_lifeline_write{-1};

/// Creates the lifeline once (no lock: a lock held by another thread at fork would stay held in
/// the child). Returns {read, write}.
std::pair<int, int> lifeline() {
    int r = g_lifeline_read.load(std::memory_order_acquire);
    if (r >= 0) return {r, g_lifeline_write.load(std::memory_order_acquire)};
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw ProcessError(std::string("cannot create the lifeline pipe: ") + std::strerror(errno));
    // A child forked by anyone (a raw fork(), another library) must not keep our lifeline open,
    // nor hand it to its own children: it drops it, and makes its own if it starts processes.
    static std::once_flag atfork_once;
    std::call_once(atfork_once, [] {
        ::pthread_atfork(nullptr, nullptr, [] {
            const int w = g_lifeline_write.exchange(-1);
            if (w >= 0) ::close(w);
            g_lifeline_read.store(-1);
        });
    });
    int expected = -1;
    // The write end is published first: whoever sees a read end also sees its write end.
    if (g_lifeline_write.compare_exchange_strong(expected, fds[1], std::memory_order_acq_rel)) {
        g_lifeline_read.store(fds[0], std::memory_order_release);
        return {fds[0], fds[1]};
    }
    ::close(fds[0]);
    ::close(fds[1]);
    while ((r = g_lifeline_read.load(std::memory_order_acquire)) < 0) std::this_thread::yield();
    return {r, g_lifeline_write.load(std::memory_order_acquire)};
}

std::string& process_name_storage() {
    static std::string name = "MainProcess";
    return name;
}

std::atomic<int> g_process_counter{0};

// ---- live children, for exit ----------------------------------------------------------------------

/// A spin lock rather than a mutex: a child resets it after fork, whatever state another thread
/// of the parent left it in.
std::atomic_flag g_live_lock = ATOMIC_FLAG_INIT;
std::vector<detail::ProcessState*>& live_children() {
    static std::vector<detail::ProcessState*> v;
    return v;
}
struct LiveGuard {
    LiveGuard() {
        while (g_live_lock.test_and_set(std::memory_order_acquire)) std::this_thread::yield();
    }
    ~LiveGuard() { g_live_lock.clear(std::memory_order_release); }
    LiveGuard(const LiveGuard&) = delete;
    LiveGuard& operator=(const LiveGuard&) = delete;
};

void at_exit_handler();

}  // namespace

namespace detail {

struct ProcessState {
    StartMethod method = StartMethod::fork;
    std::function<void()> target;
    const char* spawn_name = nullptr;
    std::string spawn_payload;
    std::string name;
    bool daemon = false;
    bool started = false;
    pid_t pid = -1;
    int pidfd = -1;
    std::mutex mu;  // guards exitcode and the reaping
    std::optional<int> exitcode;

    ~ProcessState() {
        if (pidfd >= 0) ::close(pidfd);
    }

    /// Reaps the child if it has exited; true if it has (now or before).
    bool try_reap(bool block) {
        std::lock_guard lk(mu);
        if (exitcode) return true;
        int status = 0;
        pid_t r;
        while ((r = ::waitpid(pid, &status, block ? 0 : WNOHANG)) < 0 && errno == EINTR) {
        }
        if (r == 0) return false;
        if (r < 0) {
            // Reaped by someone else (a SIGCHLD handler calling wait(), SIG_IGN): unknown status.
            exitcode = 255;
        } else if (WIFEXITED(status)) {
            exitcode = WEXITSTATUS(status);
        } else if (WIFSIGNALED(status)) {
            exitcode = -WTERMSIG(status);
        } else {
            return false;  // stopped or continued: not an exit
        }
        if (pidfd >= 0) {
            ::close(pidfd);
            pidfd = -1;
        }
        return true;
    }

    /// Waits for the exit: true once reaped, false if `timeout` (negative: none) passed.
    bool wait_exit(std::chrono::nanoseconds timeout, bool infinite) {
        if (try_reap(false)) return true;
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            int fd;
            {
                std::lock_guard lk(mu);
                if (exitcode) return true;
                fd = pidfd;
            }
            int ms = -1;
            if (!infinite) {
                auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
                if (left.count() < 0) left = left.zero();
                ms = static_cast<int>(std::min<long long>(left.count() + 1, 1'000'000));
            }
            pollfd p{fd, POLLIN, 0};
            const int n = ::poll(&p, 1, ms);
            if (n < 0 && errno != EINTR) return try_reap(true);
            if (n > 0) return try_reap(true);
            if (try_reap(false)) return true;
            if (!infinite && std::chrono::steady_clock::now() >= deadline) return false;
        }
    }

    void send_signal(int sig) {
        std::lock_guard lk(mu);
        if (!started || exitcode) return;
        if (::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) != 0 && errno != ESRCH)
            throw ProcessError(std::string("cannot signal process ") + std::to_string(pid) + ": " + std::strerror(errno));
    }
};

void register_spawn_function(const char* name, AnyFn fn, SpawnEntry entry) {
    auto& r = registry();
    std::lock_guard lk(r.mu);
    auto [it, inserted] = r.by_name.emplace(name, entry);
    if (!inserted && it->second != entry) it->second = nullptr;  // ambiguous: refused at spawn time
    r.by_fn.emplace(fn, name);
}

const char* spawn_function_name(AnyFn fn) {
    auto& r = registry();
    std::lock_guard lk(r.mu);
    auto it = r.by_fn.find(fn);
    if (it == r.by_fn.end())
        throw std::invalid_argument(
            "Process(aio::mp::spawn, fn, ...): fn is not registered; add AIO_MP_REGISTER(fn) at namespace scope");
    auto byname = r.by_name.find(it->second);
    if (byname != r.by_name.end() && !byname->second)
        throw std::invalid_argument(std::string("Process(aio::mp::spawn, ") + it->second +
                                    ", ...): two different functions are registered under this name; give one another name");
    return it->second;
}

void after_fork_in_child(const std::string& name) noexcept {
    // Our parent's lifeline is not ours to hold; our own children will get a new one.
    const int w = g_lifeline_write.exchange(-1);
    if (w >= 0) ::close(w);
    g_lifeline_read.store(-1);
    g_live_lock.clear();
    live_children().clear();
    process_name_storage() = name;
}

void watch_lifeline(int fd) {
    // Returns only once the thread runs: this process may fork next (a child starting children
    // of its own), and a fork while the thread is still being set up copies the thread library's
    // (or a sanitizer's) half-held locks into the grandchild, which then hangs creating its own
    // watcher and outlives us. Seen under ASan: 40% of runs of ChildDiesWhenParentIsKilled.
    // Shared, not on this stack: the thread may still be in notify_one() after the wait returns.
    auto running = std::make_shared<std::atomic<bool>>(false);
    std::thread([fd, running] {
        running->store(true, std::memory_order_release);
        running->notify_one();
        char c;
        while (::read(fd, &c, 1) < 0 && errno == EINTR) {
        }
        ::kill(::getpid(), SIGKILL);
    }).detach();
    running->wait(false, std::memory_order_acquire);
}

[[noreturn]] void child_exit(int code) noexcept {
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);
    ::_exit(code);
}

void report_child_exception(const std::string& name, std::exception_ptr e) noexcept {
    try {
        std::string msg = "Process " + name + " (pid " + std::to_string(::getpid()) + ") failed: " + describe_exception(e) + "\n";
        std::cerr << msg;
    } catch (...) {
    }
}

}  // namespace detail

namespace {
void at_exit_handler() {
    std::vector<detail::ProcessState*> children;
    {
        LiveGuard g;
        children = live_children();
    }
    for (auto* c : children)
        if (c->daemon) c->send_signal(SIGTERM);
    for (auto* c : children) c->wait_exit({}, true);
}
}  // namespace

int cpu_count() {
    cpu_set_t set;
    CPU_ZERO(&set);
    int n = 0;
    if (::sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
    if (n <= 0) n = static_cast<int>(std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN)));
    // cgroup v2: "0::/path" names our cgroup; every level up to the root may cap the quota.
    std::ifstream cg("/proc/self/cgroup");
    std::string line;
    while (std::getline(cg, line)) {
        if (line.rfind("0::", 0) != 0) continue;
        std::string path = line.substr(3);
        for (;;) {
            if (auto q = cgroup_quota("/sys/fs/cgroup" + (path == "/" ? std::string() : path)))
                n = std::min(n, std::max(1, static_cast<int>(std::ceil(*q))));
            if (path.empty() || path == "/") break;
            auto slash = path.rfind('/');
            path = slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
        }
    }
    return std::max(1, n);
}

const std::string& current_process_name() { return process_name_storage(); }

void freeze_support() {
    const char* env = std::getenv("AIO_MP_SPAWN");
    if (!env) return;
    int payload_fd = -1, life_fd = -1;
    if (std::sscanf(env, "%d,%d", &payload_fd, &life_fd) != 2) {
        std::cerr << "aio::mp::freeze_support: malformed AIO_MP_SPAWN=" << env << "\n";
        ::_exit(1);
    }
    ::unsetenv("AIO_MP_SPAWN");
    ::fcntl(payload_fd, F_SETFD, FD_CLOEXEC);
    ::fcntl(life_fd, F_SETFD, FD_CLOEXEC);
    detail::watch_lifeline(life_fd);
    // Read by length, not to end of file: another child forked by the parent at this moment may
    // hold the parent's end of the socket for a while, and would delay the end of file.
    std::string msg;
    uint64_t len = 0;
    size_t want = sizeof len;
    bool have_len = false;
    char buf[65536];
    while (msg.size() < want) {
        const ssize_t n = ::read(payload_fd, buf, std::min(sizeof buf, want - msg.size()));
        if (n > 0) {
            msg.append(buf, static_cast<size_t>(n));
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            break;  // the parent died mid-message: the decode below reports it
        }
        if (!have_len && msg.size() == sizeof len) {
            std::memcpy(&len, msg.data(), sizeof len);
            msg.clear();
            want = static_cast<size_t>(len);
            have_len = true;
        }
    }
    ::close(payload_fd);
    std::string fn, payload, name;
    try {
        Reader r(msg);
        fn = r.get<std::string>();
        payload = r.get<std::string>();
        name = r.get<std::string>();
    } catch (const std::exception& e) {
        std::cerr << "aio::mp spawn child: cannot read its target from the parent: " << e.what() << "\n";
        detail::child_exit(1);
    }
    process_name_storage() = name;
    detail::SpawnEntry entry = nullptr;
    {
        auto& reg = registry();
        std::lock_guard lk(reg.mu);
        auto it = reg.by_name.find(fn);
        if (it != reg.by_name.end()) entry = it->second;
    }
    if (!entry) {
        std::cerr << "aio::mp spawn child: function '" << fn << "' is not registered in this program (AIO_MP_REGISTER)\n";
        detail::child_exit(1);
    }
    try {
        entry(payload);
    } catch (...) {
        detail::report_child_exception(name, std::current_exception());
        detail::child_exit(1);
    }
    detail::child_exit(0);
}

Process::Process(StartMethod m, std::function<void()> target, const char* spawn_name, std::string spawn_payload)
    : s_(std::make_unique<detail::ProcessState>()) {
    s_->method = m;
    s_->target = std::move(target);
    s_->spawn_name = spawn_name;
    s_->spawn_payload = std::move(spawn_payload);
    s_->name = "Process-" + std::to_string(g_process_counter.fetch_add(1) + 1);
}

Process::Process(Process&&) noexcept = default;
Process& Process::operator=(Process&& o) noexcept {
    if (this != &o) {
        Process dying(std::move(*this));  // joins or terminates what this object held
        s_ = std::move(o.s_);
    }
    return *this;
}

Process::~Process() {
    if (!s_ || !s_->started) return;
    try {
        if (!s_->exitcode) {
            if (s_->daemon) s_->send_signal(SIGTERM);
            s_->wait_exit({}, true);
        }
    } catch (...) {
        s_->try_reap(true);
    }
    LiveGuard g;
    auto& v = live_children();
    v.erase(std::remove(v.begin(), v.end(), s_.get()), v.end());
}

Process& Process::name(std::string n) {
    if (!s_) throw InvalidStateError("Process.name: moved-from Process");
    if (s_->started) throw InvalidStateError("Process.name: cannot rename a started process");
    s_->name = std::move(n);
    return *this;
}
const std::string& Process::name() const noexcept {
    static const std::string none;
    return s_ ? s_->name : none;
}
Process& Process::daemon(bool d) {
    if (!s_) throw InvalidStateError("Process.daemon: moved-from Process");
    if (s_->started) throw InvalidStateError("Process.daemon: cannot change a started process");
    s_->daemon = d;
    return *this;
}
bool Process::daemon() const noexcept { return s_ && s_->daemon; }
StartMethod Process::start_method() const noexcept { return s_ ? s_->method : StartMethod::fork; }

void Process::start() {
    if (!s_) throw InvalidStateError("Process.start: moved-from Process");
    if (s_->started) throw InvalidStateError("Process.start: a process can only be started once");
    if (std::getenv("AIO_MP_SPAWN"))
        throw RuntimeError(
            "this program was started by aio::mp with the spawn method, but main() does not call "
            "aio::mp::freeze_support() first");
    auto [life_r, life_w] = lifeline();
    (void)life_w;

    // Everything the spawn child needs is built before fork: between fork and exec it may only
    // make async-signal-safe calls.
    int sp[2] = {-1, -1};
    std::vector<std::string> env_store;
    std::vector<char*> envp;
    std::string exe_arg0;
    char* argv[2] = {nullptr, nullptr};
    if (s_->method == StartMethod::spawn) {
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0)
            throw ProcessError(std::string("Process.start: socketpair: ") + std::strerror(errno));
        for (char** e = environ; e && *e; ++e)
            if (std::strncmp(*e, "AIO_MP_SPAWN=", 13) != 0) env_store.emplace_back(*e);
        env_store.push_back("AIO_MP_SPAWN=" + std::to_string(sp[1]) + "," + std::to_string(life_r));
        for (auto& e : env_store) envp.push_back(e.data());
        envp.push_back(nullptr);
        std::ifstream cmd("/proc/self/cmdline");
        std::getline(cmd, exe_arg0, '\0');
        if (exe_arg0.empty()) exe_arg0 = "aiocpp-spawn";
        argv[0] = exe_arg0.data();
    }

    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);  // or the child would print the parent's buffered output again
    const pid_t pid = ::fork();
    if (pid < 0) {
        const int err = errno;
        if (sp[0] >= 0) {
            ::close(sp[0]);
            ::close(sp[1]);
        }
        throw ProcessError(std::string("Process.start: fork: ") + std::strerror(err));
    }
    if (pid == 0) {
        if (s_->method == StartMethod::spawn) {
            const int w = g_lifeline_write.load();
            if (w >= 0) ::close(w);
            ::fcntl(sp[1], F_SETFD, 0);
            ::fcntl(life_r, F_SETFD, 0);
            ::execve("/proc/self/exe", argv, envp.data());
            ::_exit(127);
        }
        detail::after_fork_in_child(s_->name);
        detail::watch_lifeline(life_r);
        try {
            s_->target();
        } catch (...) {
            detail::report_child_exception(s_->name, std::current_exception());
            detail::child_exit(1);
        }
        detail::child_exit(0);
    }
    s_->pid = pid;
    s_->started = true;
    s_->pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (s_->pidfd < 0) {
        // Only on kernels before 5.3: the child runs, but join would have nothing to poll.
        const int err = errno;
        ::kill(pid, SIGKILL);
        s_->try_reap(true);
        throw ProcessError(std::string("Process.start: pidfd_open: ") + std::strerror(err) + " (Linux >= 5.3 is required)");
    }
    ::fcntl(s_->pidfd, F_SETFD, FD_CLOEXEC);
    if (s_->method == StartMethod::spawn) {
        ::close(sp[1]);
        Writer w;
        w.put(std::string(s_->spawn_name));
        w.put(s_->spawn_payload);
        w.put(s_->name);
        const uint64_t len = w.buffer().size();
        std::string msg(reinterpret_cast<const char*>(&len), sizeof len);
        msg += w.buffer();
        size_t off = 0;
        while (off < msg.size()) {
            const ssize_t n = ::send(sp[0], msg.data() + off, msg.size() - off, MSG_NOSIGNAL);
            if (n > 0) off += static_cast<size_t>(n);
            else if (errno != EINTR) break;  // the child died before reading: its exitcode says why
        }
        ::close(sp[0]);
    }
    static std::once_flag at_exit_once;
    std::call_once(at_exit_once, [] {
        (void)live_children();  // constructed first, so destroyed only after the handler has run
        std::atexit(at_exit_handler);
    });
    LiveGuard g;
    live_children().push_back(s_.get());
}

void Process::join() {
    if (!s_ || !s_->started) throw InvalidStateError("Process.join: the process was not started");
    s_->wait_exit({}, true);
}

bool Process::join_for(std::chrono::nanoseconds timeout) {
    if (!s_ || !s_->started) throw InvalidStateError("Process.join: the process was not started");
    return s_->wait_exit(timeout, false);
}

bool Process::is_alive() {
    if (!s_ || !s_->started) return false;
    return !s_->try_reap(false);
}

std::optional<pid_t> Process::pid() const noexcept {
    if (!s_ || !s_->started) return std::nullopt;
    return s_->pid;
}

std::optional<int> Process::exitcode() {
    if (!s_ || !s_->started) return std::nullopt;
    s_->try_reap(false);
    std::lock_guard lk(s_->mu);
    return s_->exitcode;
}

void Process::terminate() {
    if (!s_ || !s_->started) throw InvalidStateError("Process.terminate: the process was not started");
    s_->send_signal(SIGTERM);
}

void Process::kill() {
    if (!s_ || !s_->started) throw InvalidStateError("Process.kill: the process was not started");
    s_->send_signal(SIGKILL);
}

}  // namespace aio::mp
