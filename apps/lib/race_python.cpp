// `aiocpp race --python` (race_python.hpp).
//
// The interpreter is started with posix_spawn, not fork: the race's site runs on a thread of
// this process by then, and posix_spawn runs nothing of ours between the fork and the exec.
// wait4() gives the interpreter's CPU time and peak RSS, its reaped Pool workers included, as it
// does for aiocpp's own ways.
#include "race_python.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <stdexcept>
#include <vector>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

extern char** environ;

namespace aio::app::detail {

namespace {

using Clock = std::chrono::steady_clock;

struct Fd {
    int fd = -1;
    Fd() = default;
    explicit Fd(int f) : fd(f) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { reset(); }
    void reset() {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
};

struct Pipe {
    Fd read, write;
    Pipe() {
        int p[2];
        if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error(fmt::format("pipe: {}", std::strerror(errno)));
        read.fd = p[0];
        write.fd = p[1];
    }
};

struct Finished {
    int status = 0;
    rusage usage{};
    std::string err;
    bool timed_out = false;
};

/// Runs `argv` with stdin from /dev/null, collecting stdout and stderr; `on_line` sees each stdout
/// line as it comes (for the progress). Kills it when the deadline passes.
Finished run_collecting(const std::vector<std::string>& argv, Clock::time_point deadline,
                        const std::function<void(std::string_view)>& on_line) {
    Pipe out, err;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out.write.fd, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, err.write.fd, STDERR_FILENO);
    std::vector<char*> args;
    for (const std::string& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, argv[0].c_str(), &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error(fmt::format("cannot run {}: {}", argv[0], std::strerror(rc)));
    out.write.reset();
    err.write.reset();

    Finished f;
    std::string pending;  // stdout not yet ended by a newline
    std::array<pollfd, 2> fds{pollfd{out.read.fd, POLLIN, 0}, pollfd{err.read.fd, POLLIN, 0}};
    char buf[4096];
    while (fds[0].fd >= 0 || fds[1].fd >= 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) {
            f.timed_out = true;
            ::kill(pid, SIGKILL);
            break;
        }
        const int pr = ::poll(fds.data(), fds.size(), static_cast<int>(std::min<long long>(left, 1000)));
        if (pr < 0 && errno == EINTR) continue;
        if (pr < 0) {
            ::kill(pid, SIGKILL);
            break;
        }
        if (pr == 0) continue;
        for (size_t i = 0; i < fds.size(); ++i) {
            if (fds[i].fd < 0 || fds[i].revents == 0) continue;
            const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                fds[i].fd = -1;  // poll skips negative descriptors
                continue;
            }
            if (i == 1) {
                f.err.append(buf, static_cast<size_t>(n));
                continue;
            }
            // Whole lines only: a line may arrive in two reads.
            pending.append(buf, static_cast<size_t>(n));
            for (size_t nl; (nl = pending.find('\n')) != std::string::npos; pending.erase(0, nl + 1))
                on_line(std::string_view(pending).substr(0, nl));
        }
    }
    while (::wait4(pid, &f.status, 0, &f.usage) < 0 && errno == EINTR) {
    }
    return f;
}

std::string last_line(const std::string& text) {
    size_t end = text.find_last_not_of("\n\r ");
    if (end == std::string::npos) return "";
    const size_t start = text.rfind('\n', end);
    return text.substr(start == std::string::npos ? 0 : start + 1,
                       end - (start == std::string::npos ? 0 : start + 1) + 1);
}

}  // namespace

std::string python_problem(const std::string& python) {
    if (::access(python.c_str(), X_OK) != 0)
        return fmt::format("{} is not there ({}): install python3", python, std::strerror(errno));
    const std::vector<std::string> argv{python, "-c", "import sys; sys.exit(0 if sys.version_info >= (3, 8) else 1)"};
    const Finished f = run_collecting(argv, Clock::now() + std::chrono::seconds(30), [](std::string_view) {});
    if (!WIFEXITED(f.status) || WEXITSTATUS(f.status) != 0)
        return fmt::format("{} does not run as Python 3.8 or later", python);
    return "";
}

bool python_has_module(const std::string& python, const std::string& module) {
    const std::vector<std::string> argv{python, "-c", "import " + module};
    const Finished f = run_collecting(argv, Clock::now() + std::chrono::seconds(30), [](std::string_view) {});
    return WIFEXITED(f.status) && WEXITSTATUS(f.status) == 0;
}

PythonReport run_python_way(const PythonRun& run) {
    const std::vector<std::string> argv{run.python,
                                        "-c",
                                        std::string(race_ways_py),
                                        run.mode,
                                        run.way,
                                        run.base.empty() ? "-" : run.base,
                                        std::to_string(run.items),
                                        std::to_string(run.workers),
                                        std::to_string(run.concurrency),
                                        fmt::format("{}", run.timeout_s)};
    std::optional<nlohmann::json> result;
    std::string bad_line;
    const auto on_line = [&](std::string_view line) {
        if (line.starts_with("progress ")) {
            if (run.on_progress) run.on_progress(std::strtoull(std::string(line.substr(9)).c_str(), nullptr, 10));
        } else if (line.starts_with("result ")) {
            result = nlohmann::json::parse(line.substr(7), nullptr, false);
            if (result->is_discarded()) {
                bad_line = std::string(line);
                result.reset();
            }
        }
    };
    const Finished f = run_collecting(argv, Clock::now() + std::chrono::minutes(10), on_line);
    const std::string who = fmt::format("the Python {} way", run.way);
    if (f.timed_out) throw std::runtime_error(fmt::format("{} did not finish in 10 minutes", who));
    if (!WIFEXITED(f.status) || WEXITSTATUS(f.status) != 0 || !result) {
        std::string why = last_line(f.err);
        if (why.empty() && !bad_line.empty()) why = "unreadable result: " + bad_line;
        if (why.empty())
            why = WIFSIGNALED(f.status) ? fmt::format("killed by signal {}", WTERMSIG(f.status))
                                        : fmt::format("exited with status {} and no result", WEXITSTATUS(f.status));
        throw std::runtime_error(fmt::format("{} failed: {}", who, why));
    }
    PythonReport rep;
    try {
        rep.ok = result->at("ok").get<size_t>();
        rep.failed = result->at("failed").get<size_t>();
        rep.wall_s = result->at("wall_s").get<double>();
        rep.workers = result->at("workers").get<size_t>();
        rep.workers_rss_kib = result->at("workers_rss_kib").get<uint64_t>();
        rep.self_rss_kib = result->at("self_rss_kib").get<uint64_t>();
        if (result->contains("primes")) rep.primes = result->at("primes").get<uint64_t>();
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error(fmt::format("{} reported a result without {}", who, e.what()));
    }
    rep.cpu_s = static_cast<double>(f.usage.ru_utime.tv_sec + f.usage.ru_stime.tv_sec) +
                static_cast<double>(f.usage.ru_utime.tv_usec + f.usage.ru_stime.tv_usec) / 1e6;
    // wait4's peak is the largest of the interpreter and its workers; without workers it is the
    // interpreter's own, start-up included, as for aiocpp's ways.
    if (rep.workers == 0) rep.self_rss_kib = static_cast<uint64_t>(f.usage.ru_maxrss);
    return rep;
}

}  // namespace aio::app::detail
