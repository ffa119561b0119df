// Subprocesses — asyncio.create_subprocess_exec / create_subprocess_shell and
// asyncio.subprocess.Process: start a program, talk to it through its stdin/stdout/stderr as
// streams, wait for it without blocking the loop.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "aio/core/task.hpp"
#include "aio/net/streams.hpp"

namespace aio {

/// Where a child's stdin, stdout or stderr goes (Python: the stdin=/stdout=/stderr= arguments).
struct Redirect {
    enum Kind : uint8_t { inherit, pipe, devnull, to_stdout, fd };
    Kind kind = inherit;
    int fd_ = -1;  // for Kind::fd: the parent's fd to give the child (not closed by aiocpp)
    /// An fd of the parent (Python: passing a file or an int).
    static Redirect from_fd(int f) noexcept { return {fd, f}; }
};
/// asyncio.subprocess.PIPE: a stream between the parent and the child.
inline constexpr Redirect PIPE{Redirect::pipe, -1};
/// asyncio.subprocess.DEVNULL.
inline constexpr Redirect DEVNULL{Redirect::devnull, -1};
/// asyncio.subprocess.STDOUT (stderr only): stderr goes where stdout goes.
inline constexpr Redirect STDOUT{Redirect::to_stdout, -1};
/// The default: the child shares the parent's (Python: None).
inline constexpr Redirect INHERIT{Redirect::inherit, -1};

/// Keyword arguments of create_subprocess_exec / create_subprocess_shell.
struct SubprocessOptions {
    /// Not an aggregate on purpose: g++ 12 double-destroys an aggregate temporary (such as a
    /// defaulted `= {}` argument) in a co_await expression (docs/design.md, "Compiler notes").
    /// Set the fields on a named variable.
    SubprocessOptions() = default;
    Redirect stdin_ = INHERIT;   // Python stdin=
    Redirect stdout_ = INHERIT;  // Python stdout=
    Redirect stderr_ = INHERIT;  // Python stderr=
    /// Python cwd=.
    std::optional<std::string> cwd;
    /// Python env=: the whole environment as "NAME=value" strings; unset = the parent's.
    std::optional<std::vector<std::string>> env;
    /// Python limit=: the StreamReaders' buffer limit.
    size_t limit = 64 * 1024;
};

class Process;
namespace detail {
struct ChildState;
Task<Process> spawn_process(std::vector<std::string> argv, SubprocessOptions options);
}  // namespace detail

/// Python's communicate() result: (stdout_data, stderr_data); nullopt where not a PIPE.
struct CommunicateResult {
    std::optional<std::string> stdout_data;
    std::optional<std::string> stderr_data;
};

/// asyncio.subprocess.Process. Move-only. Destroying it does not kill the child (as in Python);
/// the child is still reaped when it exits, so it never lingers as a zombie.
class Process {
public:
    Process(Process&&) noexcept;
    Process& operator=(Process&&) noexcept;
    ~Process();

    /// process.pid.
    [[nodiscard]] pid_t pid() const noexcept;
    /// process.returncode: nullopt while running; the exit status, or -N when killed by signal N.
    [[nodiscard]] std::optional<int> returncode() const noexcept;
    /// `co_await process.wait()`: the return code. Cancel-safe (the child runs on). With
    /// stdout=PIPE, read the output too, or a child that fills the pipe never exits (Python warns
    /// the same): communicate() does both.
    [[nodiscard]] Task<int> wait() const;
    /// `co_await process.communicate(input)`: writes `input` to stdin (if it is a PIPE) and closes
    /// it, reads stdout and stderr (those that are PIPEs) to EOF, waits for exit. If cancelled,
    /// the child is left running and what was read is lost (Python: the same).
    [[nodiscard]] Task<CommunicateResult> communicate(std::optional<std::string> input = std::nullopt);
    /// process.send_signal(sig), terminate() (SIGTERM), kill() (SIGKILL). No-ops once the child
    /// has been reaped (Python: the same), so a recycled pid is never signalled.
    void send_signal(int sig);
    void terminate();
    void kill();

    /// process.stdin / stdout / stderr: present when that stream is a PIPE.
    std::optional<StreamWriter> stdin;
    std::optional<StreamReader> stdout;
    std::optional<StreamReader> stderr;

    /// Made by create_subprocess_exec / _shell.
    explicit Process(std::shared_ptr<detail::ChildState> s) noexcept;

private:
    std::shared_ptr<detail::ChildState> s_;
};

/// asyncio.create_subprocess_exec(program, *args, stdin=..., ...): starts `program` (looked up
/// in PATH if it has no '/') with `args`. Throws std::system_error (ENOENT, EACCES...) if it
/// cannot be started.
[[nodiscard]] Task<Process> create_subprocess_exec(std::string program, std::vector<std::string> args = {},
                                                   SubprocessOptions options = {});
namespace detail {
inline void add_exec_arg(std::vector<std::string>& argv, SubprocessOptions&, std::string_view a) { argv.emplace_back(a); }
inline void add_exec_arg(std::vector<std::string>&, SubprocessOptions& o, SubprocessOptions given) { o = std::move(given); }
}  // namespace detail

/// create_subprocess_exec("sort", "-n", "-r", options): Python's call shape, the arguments one by
/// one and the options (if any) last. Prefer it to a braced `{"-n"}` list inside a co_await:
/// g++ 12 fails to compile an initializer list of strings in a co_await expression.
template <class... A>
    requires(sizeof...(A) > 0 &&
             ((std::is_convertible_v<A, std::string_view> || std::is_same_v<std::remove_cvref_t<A>, SubprocessOptions>) && ...))
[[nodiscard]] Task<Process> create_subprocess_exec(std::string program, A&&... args) {
    std::vector<std::string> argv{std::move(program)};
    SubprocessOptions options;
    (detail::add_exec_arg(argv, options, std::forward<A>(args)), ...);
    return detail::spawn_process(std::move(argv), std::move(options));
}

/// asyncio.create_subprocess_shell(cmd, ...): `/bin/sh -c cmd`.
[[nodiscard]] Task<Process> create_subprocess_shell(std::string cmd, SubprocessOptions options = {});

}  // namespace aio
