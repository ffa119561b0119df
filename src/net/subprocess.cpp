// Subprocesses (include/aio/net/subprocess.hpp).
//
// Spawning: posix_spawnp (glibc uses clone(CLONE_VFORK), safe in a threaded program, and reports
// an exec failure as its return value). PIPEs are socketpairs, as asyncio uses on some platforms:
// the parent's end is then an ordinary socket transport (send with MSG_NOSIGNAL, shutdown for
// write_eof), so a child that exits early gives EPIPE, never SIGPIPE in the parent.
// Exit: a pidfd (Linux >= 5.3) watched by the loop; when it becomes readable the child is reaped
// with waitpid. A child still running when its watcher goes away (loop closed) is reaped by a
// detached thread, so no zombie is ever left behind.
#include "aio/net/subprocess.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "aio/core/future.hpp"
#include "aio/core/gather.hpp"
#include "fd_wait.hpp"
#include "stream_internal.hpp"

extern char** environ;

namespace aio {
namespace detail {

struct ChildState {
    EventLoop* loop = nullptr;
    pid_t pid = -1;
    int pidfd = -1;
    bool watching = false;
    std::optional<int> returncode;
    std::vector<Future<void>> waiters;

    ~ChildState() {
        if (pidfd >= 0) ::close(pidfd);
        if (!returncode && pid > 0) {
            // The loop is gone (or closing) while the child runs on: reap it off-loop.
            const pid_t p = pid;
            try {
                std::thread([p] {
                    int status;
                    while (::waitpid(p, &status, 0) < 0 && errno == EINTR) {
                    }
                }).detach();
            } catch (...) {  // no thread to be had: the child becomes a zombie until we exit
            }
        }
    }

    void on_pidfd_readable() {
        int status = 0;
        const pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == 0) return;  // not yet (spurious)
        if (r == pid) returncode = WIFSIGNALED(status) ? -WTERMSIG(status) : WEXITSTATUS(status);
        else returncode = 255;  // reaped by someone else (e.g. a SIGCHLD handler calling wait()): unknown
        if (watching) {
            watching = false;
            loop->remove_reader(pidfd);
        }
        ::close(pidfd);
        pidfd = -1;
        auto ws = std::move(waiters);
        waiters.clear();
        for (auto& f : ws)
            if (!f.done()) f.set_result();
    }
};

namespace {

// The child's end of a PIPE: blocking (the child expects an ordinary blocking stdin/stdout) and
// close-on-exec (the child gets it through dup2, which drops the flag on the copy).
struct ChildEnd {
    int fd = -1;
    explicit ChildEnd(int f) noexcept : fd(f) {}
    ChildEnd(ChildEnd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
    ChildEnd& operator=(ChildEnd&&) = delete;
    ~ChildEnd() {
        if (fd >= 0) ::close(fd);
    }
};

std::pair<Socket, ChildEnd> make_socketpair() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) throw_errno(errno, "socketpair");
    ChildEnd child(sv[1]);
    return {Socket::adopt(sv[0]), std::move(child)};
}

// RAII for the posix_spawn objects.
struct SpawnSetup {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    SpawnSetup() {
        posix_spawn_file_actions_init(&actions);
        posix_spawnattr_init(&attr);
    }
    ~SpawnSetup() {
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attr);
    }
    SpawnSetup(const SpawnSetup&) = delete;
    SpawnSetup& operator=(const SpawnSetup&) = delete;
};

void check(int rc, const char* what) {
    if (rc != 0) throw_errno(rc, what);
}

Task<int> do_wait(std::shared_ptr<ChildState> s) {
    if (s->returncode) co_return *s->returncode;
    Future<void> f(*s->loop);
    s->waiters.push_back(f);
    co_await f;
    co_return *s->returncode;
}

Task<std::optional<std::string>> read_all(std::optional<StreamReader> r) {
    if (!r) co_return std::nullopt;
    co_return co_await r->read(-1);
}

Task<void> feed_stdin(std::optional<StreamWriter> w, std::optional<std::string> input) {
    if (!w) co_return;
    bool broken = false;
    if (input && !input->empty()) {
        w->write(*input);
        try {
            co_await w->drain();
        } catch (const std::system_error& e) {
            // The child exited or closed its stdin without reading everything: Python ignores
            // BrokenPipeError and ConnectionResetError here too.
            if (e.code() != std::errc::broken_pipe && e.code() != std::errc::connection_reset) throw;
            broken = true;
        }
    }
    if (!broken) w->close();
}

}  // namespace

Task<Process> spawn_process(std::vector<std::string> argv, SubprocessOptions o) {
    if (argv.empty() || argv[0].empty()) throw std::invalid_argument("create_subprocess: empty program name");
    if (o.stdin_.kind == Redirect::to_stdout || o.stdout_.kind == Redirect::to_stdout)
        throw std::invalid_argument("STDOUT can only be given as stderr");
    EventLoop& loop = get_running_loop();
    SpawnSetup sp;
    // Parent ends of the PIPEs, and the child ends to close once the child has them.
    std::optional<Socket> parent_in, parent_out, parent_err;
    std::vector<ChildEnd> child_ends;
    auto plan = [&](const Redirect& r, int target, std::optional<Socket>& parent_end) {
        switch (r.kind) {
            case Redirect::inherit:
                break;
            case Redirect::pipe: {
                auto [p, c] = make_socketpair();
                check(posix_spawn_file_actions_adddup2(&sp.actions, c.fd, target), "posix_spawn_file_actions_adddup2");
                parent_end.emplace(std::move(p));
                child_ends.push_back(std::move(c));
                break;
            }
            case Redirect::devnull:
                check(posix_spawn_file_actions_addopen(&sp.actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0),
                      "posix_spawn_file_actions_addopen");
                break;
            case Redirect::to_stdout:
                check(posix_spawn_file_actions_adddup2(&sp.actions, 1, 2), "posix_spawn_file_actions_adddup2");
                break;
            case Redirect::fd:
                if (r.fd_ < 0) throw std::invalid_argument("Redirect::from_fd: invalid fd " + std::to_string(r.fd_));
                check(posix_spawn_file_actions_adddup2(&sp.actions, r.fd_, target), "posix_spawn_file_actions_adddup2");
                break;
        }
    };
    plan(o.stdin_, 0, parent_in);
    plan(o.stdout_, 1, parent_out);
    plan(o.stderr_, 2, parent_err);
    if (o.cwd) check(posix_spawn_file_actions_addchdir_np(&sp.actions, o.cwd->c_str()), "posix_spawn_file_actions_addchdir_np");
    // The child starts with no signal blocked and SIGPIPE/SIGXFSZ at their defaults (Python's
    // restore_signals=True), whatever the loop or the program did to them.
    sigset_t empty, defaults;
    sigemptyset(&empty);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGXFSZ);
    check(posix_spawnattr_setsigmask(&sp.attr, &empty), "posix_spawnattr_setsigmask");
    check(posix_spawnattr_setsigdefault(&sp.attr, &defaults), "posix_spawnattr_setsigdefault");
    check(posix_spawnattr_setflags(&sp.attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF), "posix_spawnattr_setflags");

    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    std::vector<char*> envp;
    if (o.env) {
        for (auto& e : *o.env) envp.push_back(e.data());
        envp.push_back(nullptr);
    }
    pid_t pid = -1;
    const int rc = ::posix_spawnp(&pid, args[0], &sp.actions, &sp.attr, args.data(), o.env ? envp.data() : environ);
    child_ends.clear();  // the child has its copies
    if (rc != 0) throw_errno(rc, "cannot run '" + argv[0] + "'");

    auto st = std::make_shared<ChildState>();
    st->loop = &loop;
    st->pid = pid;
    st->pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (st->pidfd < 0) {
        const int err = errno;
        // Without a pidfd we cannot wait without blocking; do not leave the child behind.
        ::kill(pid, SIGKILL);
        throw_errno(err, "pidfd_open (aiocpp's subprocesses need Linux >= 5.3)");
    }
    ::fcntl(st->pidfd, F_SETFD, FD_CLOEXEC);
    loop.add_reader(st->pidfd, [keep = st] { keep->on_pidfd_readable(); });
    st->watching = true;

    Process proc(st);
    if (parent_in) proc.stdin = streams_over(std::move(*parent_in), o.limit).writer;
    if (parent_out) proc.stdout = streams_over(std::move(*parent_out), o.limit).reader;
    if (parent_err) proc.stderr = streams_over(std::move(*parent_err), o.limit).reader;
    co_return proc;
}

}  // namespace detail

Process::Process(std::shared_ptr<detail::ChildState> s) noexcept : s_(std::move(s)) {}
Process::Process(Process&&) noexcept = default;
Process& Process::operator=(Process&&) noexcept = default;
Process::~Process() = default;

pid_t Process::pid() const noexcept { return s_ ? s_->pid : -1; }
std::optional<int> Process::returncode() const noexcept { return s_ ? s_->returncode : std::nullopt; }

Task<int> Process::wait() const {
    if (!s_) throw InvalidStateError("Process: moved from");
    return detail::do_wait(s_);
}

Task<CommunicateResult> Process::communicate(std::optional<std::string> input) {
    if (!s_) throw InvalidStateError("Process: moved from");
    if (input && !stdin) throw std::invalid_argument("communicate(input): stdin is not a PIPE");
    auto s = s_;
    auto in = stdin;
    auto out = stdout;
    auto err = stderr;
    auto gathered = co_await gather(detail::feed_stdin(std::move(in), std::move(input)), detail::read_all(std::move(out)),
                                    detail::read_all(std::move(err)));
    co_await detail::do_wait(s);
    co_return CommunicateResult{std::move(std::get<1>(gathered)), std::move(std::get<2>(gathered))};
}

void Process::send_signal(int sig) {
    if (!s_ || s_->returncode) return;  // reaped: the pid may belong to someone else now
    if (::kill(s_->pid, sig) < 0 && errno != ESRCH) detail::throw_errno(errno, "kill");
}
void Process::terminate() { send_signal(SIGTERM); }
void Process::kill() { send_signal(SIGKILL); }

// Coroutines rather than plain functions returning spawn_process(...): g++ 12 rejects a string
// literal converted to the std::string parameter of a plain function called inside a co_await
// expression ("array used as initializer"); a coroutine's parameters do not hit that bug.
Task<Process> create_subprocess_exec(std::string program, std::vector<std::string> args, SubprocessOptions options) {
    args.insert(args.begin(), std::move(program));
    co_return co_await detail::spawn_process(std::move(args), std::move(options));
}

Task<Process> create_subprocess_shell(std::string cmd, SubprocessOptions options) {
    std::vector<std::string> argv{"/bin/sh", "-c", std::move(cmd)};
    co_return co_await detail::spawn_process(std::move(argv), std::move(options));
}

}  // namespace aio
