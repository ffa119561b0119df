// aio::files::File (include/aio/files/file.hpp). Every operation is a job on the default
// executor whose effect is applied on the loop when the job finishes — by the job's own done
// callback, not by the awaiting coroutine — so a cancelled caller cannot leave the object out of
// step with what the thread did.
#include "aio/files/file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <stdexcept>
#include <system_error>

#include "aio/core/errors.hpp"
#include "aio/core/future.hpp"
#include "aio/core/shield.hpp"
#include "aio/core/sleep.hpp"
#include "aio/threads/bridge.hpp"

namespace aio::files {

namespace detail {

// The descriptor, shared with the jobs that use it: it is closed when the last of them is done.
struct Fd {
    int fd = -1;
    explicit Fd(int f) noexcept : fd(f) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

// What a job did: bytes (or a size), the errno, and in append mode where the file now ends.
struct JobResult {
    int64_t n = 0;
    int err = 0;
    int64_t end = -1;
    std::shared_ptr<Fd> opened;  // open(): owned until someone takes it, closed if nobody does
};

struct FileState {
    std::shared_ptr<Fd> fd;
    std::string name;
    std::string mode;
    bool readable = false;
    bool writable = false;
    bool append = false;
    bool seekable = true;
    uint64_t pos = 0;       // the position the caller sees
    std::string rbuf;       // file bytes from `pos` on, read ahead
    size_t roff = 0;        // the bytes of rbuf already handed out
    bool eof = false;       // a read found the end (until a seek or write)
    uint64_t gen = 0;       // bumped by seek / write / truncate: a late read's bytes are stale
    Future<JobResult> in_flight;
    Future<JobResult> job;  // the job in flight: while it is referenced, its result comes back

    [[nodiscard]] size_t buffered() const noexcept { return rbuf.size() - roff; }
    void drop_buffer() noexcept {
        rbuf.clear();
        roff = 0;
        eof = false;
        ++gen;
    }
    [[noreturn]] void fail(int err, const char* what) const {
        throw std::system_error(err, std::generic_category(), std::string(what) + " '" + name + "'");
    }
    void check_open(const char* what) const {
        if (!fd) throw std::invalid_argument(std::string("I/O operation on closed file (") + what + " '" + name + "')");
    }
};

namespace {

constexpr size_t kChunk = 64 * 1024;

// Waits until no job of this file is running. Shielded: cancelling the waiter must not cancel
// the job's bookkeeping.
Task<void> idle(std::shared_ptr<FileState> s) {
    while (s->in_flight && !s->in_flight.done()) {
        Future<JobResult> f = s->in_flight;
        co_await shield(f);
    }
}

using Apply = std::function<void(FileState&, const JobResult&)>;

// Runs `job` on the executor; `apply` runs on the loop when it is done (a done callback of the
// job's future, which the state keeps), whether or not anyone still awaits it. The callback holds
// the state weakly: a File dropped meanwhile has nothing left to update. Call after idle().
Task<JobResult> run_job(std::shared_ptr<FileState> s, std::function<JobResult()> job, Apply apply) {
    Future<JobResult> applied(get_running_loop());
    s->in_flight = applied;
    Future<JobResult> fut = run_in_executor(nullptr, std::move(job));
    std::weak_ptr<FileState> weak = s;
    fut.add_done_callback([weak, apply = std::move(apply), applied](Future<JobResult> f) mutable {
        JobResult r;
        try {
            r = f.result();
        } catch (const std::system_error& e) {
            r.err = e.code().value();
        } catch (...) {
            r.err = EIO;
        }
        if (auto state = weak.lock()) {
            apply(*state, r);
            state->job = Future<JobResult>();
        }
        if (!applied.done()) applied.set_result(r);
    });
    s->job = fut;
    co_return co_await shield(applied);
}

// Fetches up to `want` more bytes behind what is buffered.
Task<void> fill(std::shared_ptr<FileState> s, size_t want) {
    const uint64_t at = s->pos + s->buffered();
    const uint64_t gen = s->gen;
    auto buf = std::make_shared<std::string>(want, '\0');
    std::shared_ptr<Fd> fd = s->fd;
    const bool seekable = s->seekable;
    auto job = [fd, buf, at, seekable]() -> JobResult {
        for (;;) {
            const ssize_t r = seekable ? ::pread(fd->fd, buf->data(), buf->size(), static_cast<off_t>(at))
                                       : ::read(fd->fd, buf->data(), buf->size());
            if (r >= 0) return JobResult{r, 0, -1, nullptr};
            if (errno != EINTR) return JobResult{0, errno, -1, nullptr};
        }
    };
    Apply apply = [buf, gen](FileState& st, const JobResult& r) {
        if (r.err || st.gen != gen) return;  // an error is the caller's; stale bytes are dropped
        if (r.n == 0) st.eof = true;
        else st.rbuf.append(buf->data(), static_cast<size_t>(r.n));
    };
    JobResult r = co_await run_job(s, std::move(job), std::move(apply));
    if (r.err) s->fail(r.err, "read");
}

std::string take(FileState& s, size_t n) {
    std::string out = s.rbuf.substr(s.roff, n);
    s.roff += n;
    s.pos += n;
    if (s.roff == s.rbuf.size()) {
        s.rbuf.clear();
        s.roff = 0;
    } else if (s.roff >= kChunk && s.roff * 2 >= s.rbuf.size()) {
        s.rbuf.erase(0, s.roff);
        s.roff = 0;
    }
    return out;
}

Task<std::string> read_impl(std::shared_ptr<FileState> s, std::ptrdiff_t n) {
    s->check_open("read");
    if (!s->readable) throw std::system_error(EBADF, std::generic_category(), "read: '" + s->name + "' is not open for reading");
    co_await idle(s);
    if (n == 0) co_return std::string();
    const bool all = n < 0;
    while (!s->eof && (all || s->buffered() < static_cast<size_t>(n))) {
        const size_t missing = all ? 0 : static_cast<size_t>(n) - s->buffered();
        co_await fill(s, std::max(kChunk, missing));
        s->check_open("read");
    }
    co_return take(*s, all ? s->buffered() : std::min(s->buffered(), static_cast<size_t>(n)));
}

Task<std::string> readline_impl(std::shared_ptr<FileState> s) {
    s->check_open("readline");
    if (!s->readable) throw std::system_error(EBADF, std::generic_category(), "readline: '" + s->name + "' is not open for reading");
    co_await idle(s);
    size_t scanned = 0;
    for (;;) {
        const size_t nl = s->rbuf.find('\n', s->roff + scanned);
        if (nl != std::string::npos) co_return take(*s, nl + 1 - s->roff);
        scanned = s->buffered();
        if (s->eof) co_return take(*s, s->buffered());
        co_await fill(s, kChunk);
        s->check_open("readline");
    }
}

AsyncGenerator<std::string> lines_impl(std::shared_ptr<FileState> s) {
    for (size_t n = 1;; ++n) {
        std::string line = co_await readline_impl(s);
        if (line.empty()) co_return;
        co_yield std::move(line);
        // Lines served from the buffer never suspend, and the consumer and this body resume each
        // other by symmetric transfer, which g++ does not turn into tail calls in unoptimised or
        // sanitised builds: the stack would grow by a few frames a line. A trip through the loop
        // now and then unwinds it (and lets other tasks run during a long file).
        if (n % 256 == 0) co_await aio::sleep(std::chrono::nanoseconds(0));
    }
}

// A job that needs only the descriptor and returns a number or an errno.
Task<JobResult> simple_job(std::shared_ptr<FileState> s, std::function<JobResult(int)> body,
                           Apply apply) {
    std::shared_ptr<Fd> fd = s->fd;
    auto job = [fd, body = std::move(body)]() { return body(fd->fd); };
    co_return co_await run_job(std::move(s), std::move(job), std::move(apply));
}

}  // namespace
}  // namespace detail

File& File::operator=(File&& o) noexcept {
    if (this != &o) s_ = std::move(o.s_);
    return *this;
}

// The descriptor goes with the last job that holds it (detail::Fd); nothing here waits.
File::~File() = default;

Task<std::string> File::read(std::ptrdiff_t n) { return detail::read_impl(s_, n); }
Task<std::string> File::readline() { return detail::readline_impl(s_); }
AsyncGenerator<std::string> File::lines() { return detail::lines_impl(s_); }

Task<size_t> File::write(std::string_view data) {
    std::shared_ptr<detail::FileState> s = s_;
    s->check_open("write");
    if (!s->writable) throw std::system_error(EBADF, std::generic_category(), "write: '" + s->name + "' is not open for writing");
    auto bytes = std::make_shared<std::string>(data);
    co_await detail::idle(s);
    // The next read starts at the position: what was read ahead is dropped.
    s->drop_buffer();
    const uint64_t at = s->pos;
    const bool append = s->append, seekable = s->seekable;
    auto body = [bytes, at, append, seekable](int fd) -> detail::JobResult {
        detail::JobResult r;
        size_t done = 0;
        while (done < bytes->size()) {
            const ssize_t w = (append || !seekable)
                                  ? ::write(fd, bytes->data() + done, bytes->size() - done)
                                  : ::pwrite(fd, bytes->data() + done, bytes->size() - done, static_cast<off_t>(at + done));
            if (w < 0) {
                if (errno == EINTR) continue;
                r.err = errno;
                break;
            }
            done += static_cast<size_t>(w);
        }
        r.n = static_cast<int64_t>(done);
        if (append) r.end = ::lseek(fd, 0, SEEK_CUR);  // O_APPEND leaves the offset at the end
        return r;
    };
    detail::Apply apply = [at](detail::FileState& st, const detail::JobResult& r) {
        if (r.end >= 0) st.pos = static_cast<uint64_t>(r.end);
        else st.pos = at + static_cast<uint64_t>(r.n);
    };
    detail::JobResult r = co_await detail::simple_job(s, std::move(body), std::move(apply));
    if (r.err) s->fail(r.err, "write");
    co_return bytes->size();
}

Task<uint64_t> File::seek(int64_t offset, int whence) {
    std::shared_ptr<detail::FileState> s = s_;
    s->check_open("seek");
    if (!s->seekable) s->fail(ESPIPE, "seek");
    if (whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END)
        throw std::invalid_argument("seek: whence must be SEEK_SET, SEEK_CUR or SEEK_END");
    co_await detail::idle(s);
    int64_t base = 0;
    if (whence == SEEK_CUR) {
        base = static_cast<int64_t>(s->pos);
    } else if (whence == SEEK_END) {
        struct stat st {};
        if (::fstat(s->fd->fd, &st) != 0) s->fail(errno, "seek");
        base = st.st_size;
    }
    const int64_t target = base + offset;
    if (target < 0) throw std::invalid_argument("seek: negative position " + std::to_string(target) + " in '" + s->name + "'");
    s->drop_buffer();
    s->pos = static_cast<uint64_t>(target);
    co_return s->pos;
}

uint64_t File::tell() const {
    s_->check_open("tell");
    return s_->pos;
}

Task<uint64_t> File::truncate(std::optional<uint64_t> size) {
    std::shared_ptr<detail::FileState> s = s_;
    s->check_open("truncate");
    if (!s->writable) throw std::system_error(EBADF, std::generic_category(), "truncate: '" + s->name + "' is not open for writing");
    co_await detail::idle(s);
    const uint64_t len = size.value_or(s->pos);
    s->drop_buffer();
    auto body = [len](int fd) -> detail::JobResult {
        if (::ftruncate(fd, static_cast<off_t>(len)) != 0) return detail::JobResult{0, errno, -1, nullptr};
        return detail::JobResult{static_cast<int64_t>(len), 0, -1, nullptr};
    };
    detail::Apply nothing = [](detail::FileState&, const detail::JobResult&) {};
    detail::JobResult r = co_await detail::simple_job(s, std::move(body), std::move(nothing));
    if (r.err) s->fail(r.err, "truncate");
    co_return len;
}

Task<void> File::flush() {
    std::shared_ptr<detail::FileState> s = s_;
    s->check_open("flush");
    co_await detail::idle(s);
}

Task<void> File::fsync() {
    std::shared_ptr<detail::FileState> s = s_;
    s->check_open("fsync");
    co_await detail::idle(s);
    auto body = [](int fd) -> detail::JobResult { return detail::JobResult{0, ::fsync(fd) == 0 ? 0 : errno, -1, nullptr}; };
    detail::Apply nothing = [](detail::FileState&, const detail::JobResult&) {};
    detail::JobResult r = co_await detail::simple_job(s, std::move(body), std::move(nothing));
    if (r.err) s->fail(r.err, "fsync");
}

Task<void> File::close() {
    std::shared_ptr<detail::FileState> s = s_;
    if (!s || !s->fd) co_return;
    co_await detail::idle(s);
    s->fd.reset();  // closed now: no job holds it any more
    s->rbuf.clear();
    s->roff = 0;
}

bool File::closed() const noexcept { return !s_ || !s_->fd; }
const std::string& File::name() const noexcept { return s_->name; }
const std::string& File::mode() const noexcept { return s_->mode; }
bool File::readable() const noexcept { return s_->readable; }
bool File::writable() const noexcept { return s_->writable; }

Task<File> open(std::string path, std::string mode) {
    int kind = 0, plus = 0, bt = 0;
    int flags = 0;
    for (char c : mode) {
        switch (c) {
            case 'r': ++kind; flags |= 0; break;
            case 'w': ++kind; flags |= O_CREAT | O_TRUNC; break;
            case 'a': ++kind; flags |= O_CREAT | O_APPEND; break;
            case 'x': ++kind; flags |= O_CREAT | O_EXCL; break;
            case '+': ++plus; break;
            case 'b': case 't': ++bt; break;
            default: kind = 99;
        }
    }
    if (kind != 1 || plus > 1 || bt > 1) throw std::invalid_argument("open: invalid mode '" + mode + "'");
    auto s = std::make_shared<detail::FileState>();
    s->name = path;
    s->mode = mode;
    const bool reading = mode.find('r') != std::string::npos;
    s->readable = reading || plus;
    s->writable = !reading || plus;
    s->append = (flags & O_APPEND) != 0;
    flags |= plus ? O_RDWR : (reading ? O_RDONLY : O_WRONLY);
    flags |= O_CLOEXEC;
    auto opener = [path, flags]() -> detail::JobResult {
        const int fd = ::open(path.c_str(), flags, 0666);
        if (fd < 0) return detail::JobResult{-1, errno, -1, nullptr};
        auto owned = std::make_shared<detail::Fd>(fd);
        // Python refuses a directory even for reading (IsADirectoryError); so do we.
        struct stat st {};
        if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) return detail::JobResult{-1, EISDIR, -1, nullptr};
        const bool seekable = ::lseek(fd, 0, SEEK_CUR) >= 0;
        const int64_t end = (flags & O_APPEND) ? static_cast<int64_t>(st.st_size) : 0;
        return detail::JobResult{fd, seekable ? 0 : -1, end, std::move(owned)};
    };
    // Opened on a thread. If this task is cancelled meanwhile, the result is dropped with the
    // descriptor it owns (JobResult::opened), which closes it.
    Future<detail::JobResult> job = run_in_executor(nullptr, std::move(opener));
    detail::JobResult r = co_await job;
    if (r.n < 0) throw std::system_error(r.err, std::generic_category(), "open '" + path + "'");
    s->fd = std::move(r.opened);
    s->seekable = r.err == 0;
    s->pos = r.end > 0 ? static_cast<uint64_t>(r.end) : 0;
    co_return File(std::move(s));
}

}  // namespace aio::files
