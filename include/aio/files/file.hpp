// aiofiles for aiocpp: files read and written without blocking the loop. Each operation runs on
// the loop's default executor (a thread pool), as aiofiles does; the loop keeps serving while a
// disk is slow. (An io_uring path may replace the threads later, under the same API.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "aio/core/async_generator.hpp"
#include "aio/core/task.hpp"

namespace aio::files {

namespace detail {
struct FileState;
}

/// What `aiofiles.open()` returns (its AsyncBufferedReader / AsyncTextIOWrapper). Move-only;
/// the destructor closes the file (Python: `async with aiofiles.open(...) as f:`), after any
/// operation still running on a thread has finished with it.
///
/// Text and binary modes read and write the same bytes: no newline translation (POSIX has
/// none) and no decoding — a std::string holds the file's UTF-8 as it is.
///
/// The position is kept by the object, not the descriptor (reads are pread, writes pwrite), so
/// that **cancellation leaves everything consistent**: an operation whose awaiting task is
/// cancelled still finishes on its thread, and its effect counts — the bytes a cancelled read
/// fetched wait in the buffer for the next read, a cancelled write is written and the position
/// moves past it. Operations on one File run one at a time, in the order called.
/// Errors are std::system_error with the errno and the file's name (Python: OSError and its
/// subclasses: FileNotFoundError is `std::errc::no_such_file_or_directory`...).
class File {
public:
    File(File&&) noexcept = default;
    File& operator=(File&&) noexcept;
    ~File();

    /// `await f.read(n)`: up to n bytes (fewer only at the end of the file); n = -1 reads to
    /// the end. "" at the end.
    [[nodiscard]] Task<std::string> read(std::ptrdiff_t n = -1);
    /// `await f.readline()`: up to and including the next "\n"; the last line may lack it; ""
    /// at the end.
    [[nodiscard]] Task<std::string> readline();
    /// `async for line in f`: each line as readline() gives it. The generator shares the file's
    /// state: it may outlive this handle, not the loop.
    [[nodiscard]] AsyncGenerator<std::string> lines();
    /// `await f.write(data)`: writes all of `data` (copied before the first suspension) at the
    /// position, or at the end in append mode; returns its size.
    [[nodiscard]] Task<size_t> write(std::string_view data);
    /// `await f.seek(offset, whence)`: SEEK_SET, SEEK_CUR or SEEK_END; returns the new position.
    /// std::invalid_argument for a negative result; ESPIPE for a pipe.
    [[nodiscard]] Task<uint64_t> seek(int64_t offset, int whence = SEEK_SET);
    /// `await f.tell()`: the position (Python's is a coroutine; this needs no thread).
    [[nodiscard]] uint64_t tell() const;
    /// `await f.truncate(size)`: cuts (or extends) the file to `size` bytes (default: the position).
    [[nodiscard]] Task<uint64_t> truncate(std::optional<uint64_t> size = std::nullopt);
    /// `await f.flush()`: waits for the operations in flight. Nothing is buffered in user space,
    /// so there is nothing else to push.
    [[nodiscard]] Task<void> flush();
    /// os.fsync(f.fileno()) on the executor: the data on the disk.
    [[nodiscard]] Task<void> fsync();
    /// `await f.close()`: waits for the operations in flight, then closes. Idempotent.
    [[nodiscard]] Task<void> close();

    [[nodiscard]] bool closed() const noexcept;
    /// f.name / f.mode.
    [[nodiscard]] const std::string& name() const noexcept;
    [[nodiscard]] const std::string& mode() const noexcept;
    [[nodiscard]] bool readable() const noexcept;
    [[nodiscard]] bool writable() const noexcept;

private:
    friend Task<File> open(std::string path, std::string mode);
    explicit File(std::shared_ptr<detail::FileState> s) noexcept : s_(std::move(s)) {}
    std::shared_ptr<detail::FileState> s_;
};

/// `await aiofiles.open(path, mode="r")`: modes as Python's open(): "r", "w", "a", "x", each
/// with an optional "+" (read and write) and "b" or "t". std::invalid_argument for another
/// mode; std::system_error (ENOENT, EACCES, EISDIR for a directory...) naming `path`.
[[nodiscard]] Task<File> open(std::string path, std::string mode = "r");

}  // namespace aio::files
