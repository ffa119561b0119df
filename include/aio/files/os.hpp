// aiofiles.os: the os functions a program that writes files needs, run on the loop's default
// executor so a slow disk or network file system stalls no other task.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "aio/core/task.hpp"

namespace aio::files::os {

/// os.stat_result, the fields a program uses.
struct StatResult {
    uint64_t st_size = 0;
    uint32_t st_mode = 0;      // type and permission bits (S_ISDIR(st_mode)...)
    uint64_t st_ino = 0;
    uint64_t st_nlink = 0;
    uint32_t st_uid = 0;
    uint32_t st_gid = 0;
    /// os.stat_result.st_mtime (named mtime: <sys/stat.h> makes st_mtime a macro).
    std::chrono::system_clock::time_point mtime;
    [[nodiscard]] bool is_dir() const noexcept;
    [[nodiscard]] bool is_file() const noexcept;
};

/// `await aiofiles.os.stat(path)` (follows symbolic links). std::system_error naming `path`.
[[nodiscard]] Task<StatResult> stat(std::string path);
/// `await aiofiles.os.rename(src, dst)` / replace(src, dst): POSIX rename replaces `dst`.
[[nodiscard]] Task<void> rename(std::string src, std::string dst);
[[nodiscard]] Task<void> replace(std::string src, std::string dst);
/// `await aiofiles.os.remove(path)` / unlink(path): a file (EISDIR for a directory: use rmdir).
[[nodiscard]] Task<void> remove(std::string path);
/// `await aiofiles.os.mkdir(path, mode=0o777)`.
[[nodiscard]] Task<void> mkdir(std::string path, uint32_t mode = 0777);
/// `await aiofiles.os.makedirs(path, mode=0o777, exist_ok=False)`: every missing parent too.
[[nodiscard]] Task<void> makedirs(std::string path, uint32_t mode = 0777, bool exist_ok = false);
/// `await aiofiles.os.rmdir(path)`: an empty directory.
[[nodiscard]] Task<void> rmdir(std::string path);
/// `await aiofiles.os.listdir(path)`: the names in it, without "." and "..", sorted (Python's
/// order is arbitrary; sorted is what a reader of the output wants).
[[nodiscard]] Task<std::vector<std::string>> listdir(std::string path);

namespace path {
/// `await aiofiles.os.path.exists(path)` / isfile / isdir / getsize.
[[nodiscard]] Task<bool> exists(std::string path);
[[nodiscard]] Task<bool> isfile(std::string path);
[[nodiscard]] Task<bool> isdir(std::string path);
[[nodiscard]] Task<uint64_t> getsize(std::string path);
}  // namespace path

}  // namespace aio::files::os
