// aio::files::os (include/aio/files/os.hpp): each call is one job on the default executor.
#include "aio/files/os.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <system_error>

#include "aio/threads/bridge.hpp"

namespace aio::files::os {

namespace {

[[noreturn]] void fail(int err, const char* what, const std::string& path) {
    throw std::system_error(err, std::generic_category(), std::string(what) + " '" + path + "'");
}

// Runs `fn` (returning 0 or an errno) on the executor and throws what it reports.
template <class F>
Task<void> call(const char* what, std::string path, F fn) {
    const int err = co_await run_in_executor(nullptr, std::move(fn));
    if (err) fail(err, what, path);
}

int stat_into(const std::string& path, StatResult& out) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return errno;
    out.st_size = static_cast<uint64_t>(st.st_size);
    out.st_mode = st.st_mode;
    out.st_ino = st.st_ino;
    out.st_nlink = st.st_nlink;
    out.st_uid = st.st_uid;
    out.st_gid = st.st_gid;
    out.mtime = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::seconds(st.st_mtim.tv_sec) +
                                                                          std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
    return 0;
}

}  // namespace

bool StatResult::is_dir() const noexcept { return S_ISDIR(st_mode); }
bool StatResult::is_file() const noexcept { return S_ISREG(st_mode); }

Task<StatResult> stat(std::string path) {
    auto job = [path]() -> std::pair<int, StatResult> {
        StatResult r;
        const int err = stat_into(path, r);
        return {err, r};
    };
    // Named, not structured bindings of the co_await's result (g++ 12 destroys that twice).
    std::pair<int, StatResult> res = co_await run_in_executor(nullptr, job);
    if (res.first) fail(res.first, "stat", path);
    co_return res.second;
}

Task<void> rename(std::string src, std::string dst) {
    std::string both = src + "' -> '" + dst;
    // Each job is a named variable: g++ 12 destroys a closure temporary of a co_await twice.
    auto job = [src, dst] { return ::rename(src.c_str(), dst.c_str()) == 0 ? 0 : errno; };
    co_await call("rename", both, std::move(job));
}

Task<void> replace(std::string src, std::string dst) { co_await rename(std::move(src), std::move(dst)); }

Task<void> remove(std::string path) {
    auto job = [path] {
        if (::unlink(path.c_str()) == 0) return 0;
        // Linux says EISDIR only sometimes (EPERM otherwise): Python says IsADirectoryError.
        const int err = errno;
        struct stat st {};
        if (err == EPERM && ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return EISDIR;
        return err;
    };
    co_await call("remove", path, std::move(job));
}

Task<void> mkdir(std::string path, uint32_t mode) {
    auto job = [path, mode] { return ::mkdir(path.c_str(), mode) == 0 ? 0 : errno; };
    co_await call("mkdir", path, std::move(job));
}

Task<void> makedirs(std::string path, uint32_t mode, bool exist_ok) {
    auto job = [path, mode, exist_ok]() -> int {
        if (path.empty()) return ENOENT;
        // Each prefix ending before a '/' (and the whole path), made in order.
        for (size_t i = 1; i <= path.size(); ++i) {
            if (i < path.size() && path[i] != '/') continue;
            const std::string part = path.substr(0, i);
            if (::mkdir(part.c_str(), mode) == 0) continue;
            const int err = errno;
            struct stat st {};
            const bool is_dir = ::stat(part.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
            if (err != EEXIST || !is_dir) return err == EEXIST ? ENOTDIR : err;
            if (i == path.size() && !exist_ok) return EEXIST;
        }
        return 0;
    };
    co_await call("makedirs", path, std::move(job));
}

Task<void> rmdir(std::string path) {
    auto job = [path] { return ::rmdir(path.c_str()) == 0 ? 0 : errno; };
    co_await call("rmdir", path, std::move(job));
}

Task<std::vector<std::string>> listdir(std::string path) {
    auto job = [path]() -> std::pair<int, std::vector<std::string>> {
        std::vector<std::string> names;
        DIR* d = ::opendir(path.c_str());
        if (!d) return {errno, names};
        errno = 0;
        while (dirent* e = ::readdir(d)) {
            const std::string_view n = e->d_name;
            if (n != "." && n != "..") names.emplace_back(n);
        }
        const int err = errno;
        ::closedir(d);
        std::sort(names.begin(), names.end());
        return {err, std::move(names)};
    };
    std::pair<int, std::vector<std::string>> res = co_await run_in_executor(nullptr, job);
    if (res.first) fail(res.first, "listdir", path);
    co_return std::move(res.second);
}

namespace path {

Task<bool> exists(std::string p) {
    auto job = [p] {
        struct stat st {};
        return ::stat(p.c_str(), &st) == 0;
    };
    co_return co_await run_in_executor(nullptr, std::move(job));
}

Task<bool> isfile(std::string p) {
    auto job = [p] {
        struct stat st {};
        return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
    };
    co_return co_await run_in_executor(nullptr, std::move(job));
}

Task<bool> isdir(std::string p) {
    auto job = [p] {
        struct stat st {};
        return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    };
    co_return co_await run_in_executor(nullptr, std::move(job));
}

Task<uint64_t> getsize(std::string p) {
    StatResult r = co_await os::stat(std::move(p));
    co_return r.st_size;
}

}  // namespace path

}  // namespace aio::files::os
