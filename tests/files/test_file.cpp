// aio::files (include/aio/files/): aiofiles' open / read / write / readline / lines / seek, and
// aiofiles.os — round trips, every mode, cancellation in the middle of an operation, errors with
// their errno, and a loop that keeps running while a thread waits on a file.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <aio/aio.hpp>
#include <fstream>
#include <random>

#include "net/net_test_util.hpp"

using namespace std::chrono_literals;
namespace files = aio::files;

namespace {

std::string random_bytes(size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    return s;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

template <class F>
std::optional<std::system_error> error_of(F&& f) {
    try {
        aiotest::run_net(f());
    } catch (const std::system_error& e) {
        return e;
    }
    return std::nullopt;
}

}  // namespace

TEST(Files, ALargeFileRoundTripsInChunksAndWhole) {
    aiotest::TempDir dir;
    const std::string path = dir.path() + "/big.bin";
    const std::string data = random_bytes(8 << 20, 1);
    aiotest::run_net([&]() -> aio::Task<void> {
        files::File out = co_await files::open(path, "wb");
        size_t at = 0, step = 1;
        while (at < data.size()) {  // pieces of every size up to 1 MiB
            const size_t n = std::min(step, data.size() - at);
            EXPECT_EQ(co_await out.write(std::string_view(data).substr(at, n)), n);
            at += n;
            step = step * 3 + 1;
            if (step > (1u << 20)) step = 7;
        }
        EXPECT_EQ(out.tell(), data.size());
        co_await out.close();
        EXPECT_TRUE(out.closed());
        files::File in = co_await files::open(path, "rb");
        std::string whole = co_await in.read();
        EXPECT_TRUE(whole == data) << whole.size();
        EXPECT_EQ(co_await in.read(), "") << "at the end";
        co_await in.seek(0);
        std::string chunked;
        for (;;) {
            std::string c = co_await in.read(100000);
            if (c.empty()) break;
            EXPECT_LE(c.size(), 100000u);
            chunked += c;
        }
        EXPECT_TRUE(chunked == data);
    }());
    EXPECT_TRUE(slurp(path) == data);
}

TEST(Files, ReadlineAndLinesSplitAfterEachNewline) {
    aiotest::TempDir dir;
    const std::string path = dir.path() + "/lines.txt";
    std::string text;
    for (int i = 0; i < 10000; ++i) text += "line " + std::to_string(i) + "\n";
    text += "no newline at the end";
    std::ofstream(path) << text;
    aiotest::run_net([&]() -> aio::Task<void> {
        files::File f = co_await files::open(path);
        EXPECT_EQ(co_await f.readline(), "line 0\n");
        EXPECT_EQ(co_await f.read(5), "line ");
        EXPECT_EQ(co_await f.readline(), "1\n");
        std::string rest;
        size_t count = 0;
        auto lines = f.lines();
        while (auto line = co_await lines.next()) {
            rest += *line;
            ++count;
        }
        EXPECT_EQ(count, 9999u);
        EXPECT_TRUE(rest == text.substr(text.find("line 2\n")));
        EXPECT_EQ(co_await f.readline(), "");
        EXPECT_EQ(f.tell(), text.size());
    }());
}

TEST(Files, ModesAppendExclusiveTruncateAndReadWrite) {
    aiotest::TempDir dir;
    const std::string path = dir.path() + "/m.txt";
    aiotest::run_net([&]() -> aio::Task<void> {
        {
            files::File w = co_await files::open(path, "w");
            co_await w.write("hello");
            EXPECT_FALSE(w.readable());
        }  // the destructor closes
        {
            files::File a = co_await files::open(path, "a");
            EXPECT_EQ(a.tell(), 5u) << "append starts at the end";
            co_await a.write(" world");
            EXPECT_EQ(a.tell(), 11u);
        }
        EXPECT_EQ(slurp(path), "hello world");
        auto exists = co_await aiotest::capture<std::system_error>(files::open(path, "x"));
        EXPECT_TRUE(exists && exists->code() == std::errc::file_exists);
        {
            files::File rw = co_await files::open(path, "r+");
            EXPECT_EQ(co_await rw.read(5), "hello");
            co_await rw.write("!");  // in place, at the position after the read
            EXPECT_EQ(co_await rw.read(), "world");
            EXPECT_EQ(co_await rw.seek(-5, SEEK_END), 6u);
            EXPECT_EQ(co_await rw.read(2), "wo");
            EXPECT_EQ(co_await rw.seek(-2, SEEK_CUR), 6u);
            EXPECT_EQ(co_await rw.truncate(), 6u);
            EXPECT_THROW(co_await rw.seek(-1), std::invalid_argument);
            co_await rw.fsync();
        }
        EXPECT_EQ(slurp(path), "hello!");
        { files::File t = co_await files::open(path, "w"); }
        EXPECT_EQ(slurp(path), "") << "w truncates";
        EXPECT_THROW(co_await files::open(path, "rw"), std::invalid_argument);
        EXPECT_THROW(co_await files::open(path, "q"), std::invalid_argument);
    }());
}

TEST(Files, ErrorsNameTheFileAndCarryTheErrno) {
    aiotest::TempDir dir;
    auto missing = error_of([&]() -> aio::Task<void> { (void)co_await files::open(dir.path() + "/none.txt"); });
    ASSERT_TRUE(missing);
    EXPECT_EQ(missing->code(), std::errc::no_such_file_or_directory);
    EXPECT_NE(std::string(missing->what()).find("none.txt"), std::string::npos) << missing->what();
    auto is_dir = error_of([&]() -> aio::Task<void> { (void)co_await files::open(dir.path()); });
    ASSERT_TRUE(is_dir);
    EXPECT_EQ(is_dir->code(), std::errc::is_a_directory);
    aiotest::run_net([&]() -> aio::Task<void> {
        files::File w = co_await files::open(dir.path() + "/w.txt", "w");
        auto not_readable = co_await aiotest::capture<std::system_error>(w.read());
        EXPECT_TRUE(not_readable && not_readable->code() == std::errc::bad_file_descriptor);
        co_await w.close();
        co_await w.close();  // idempotent
        EXPECT_THROW(co_await w.write("x"), std::invalid_argument) << "I/O operation on closed file";
    }());
    // EACCES: a file only its owner may read, opened by someone else (root reads anything, so
    // a child process gives up root first).
    const std::string secret = dir.path() + "/secret.txt";
    std::ofstream(secret) << "s";
    ::chmod(secret.c_str(), 0600);
    ::chmod(dir.path().c_str(), 0755);
    const pid_t child = ::fork();
    if (child == 0) {
        if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(3);
        if (::geteuid() != 0 && ::getuid() == ::geteuid()) {
            // Not root: make the file unreadable to ourselves instead.
            ::chmod(secret.c_str(), 0000);
        }
        try {
            aio::run([&]() -> aio::Task<void> { (void)co_await files::open(secret); }());
        } catch (const std::system_error& e) {
            ::_exit(e.code() == std::errc::permission_denied ? 0 : 1);
        } catch (...) {
            ::_exit(2);
        }
        ::_exit(4);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "1: another errno, 2: another exception, 3: setuid failed, 4: opened";
}

TEST(Files, ACancelledReadLosesNoBytesAndACancelledWriteStillCounts) {
    aiotest::TempDir dir;
    const std::string path = dir.path() + "/c.bin";
    const std::string data = random_bytes(4 << 20, 2);
    std::ofstream(path, std::ios::binary) << data;
    aiotest::run_net([&]() -> aio::Task<void> {
        files::File f = co_await files::open(path, "r+b");
        for (int round = 0; round < 20; ++round) {
            const uint64_t before = f.tell();
            auto t = aio::create_task(f.read(100000));
            co_await aio::sleep(0ms);  // the job is on its thread now
            t.cancel();
            std::string got_by_task;
            try {
                got_by_task = co_await t;
            } catch (const aio::CancelledError&) {
            }
            // Whether or not the cancellation came in time, no byte was skipped or repeated.
            EXPECT_EQ(f.tell(), before + got_by_task.size());
            std::string next = co_await f.read(1000);
            EXPECT_TRUE(got_by_task + next == data.substr(before, got_by_task.size() + next.size())) << "round " << round;
        }
        // A write whose caller is cancelled is written all the same, and the position moves past it.
        co_await f.seek(0);
        const std::string patch(300000, 'P');
        auto w = aio::create_task(f.write(patch));
        co_await aio::sleep(0ms);
        w.cancel();
        try {
            (void)co_await w;
        } catch (const aio::CancelledError&) {
        }
        co_await f.flush();
        EXPECT_EQ(f.tell(), patch.size());
        co_await f.close();
    }());
    const std::string after = slurp(path);
    EXPECT_TRUE(after.substr(0, 300000) == std::string(300000, 'P'));
    EXPECT_TRUE(after.substr(300000) == data.substr(300000));
}

TEST(Files, TheLoopRunsWhileAThreadWaitsAndTheDescriptorOutlivesADroppedHandle) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const int fds_before = aiotest::open_fds();
    aiotest::run_net([&]() -> aio::Task<void> {
        std::optional<files::File> f(co_await files::open("/proc/self/fd/" + std::to_string(fds[0]), "rb"));
        auto reading = aio::create_task(f->read(5));
        int ticks = 0;
        for (; ticks < 10; ++ticks) co_await aio::sleep(0ms);  // the loop is not blocked
        EXPECT_FALSE(reading.done()) << "the pipe is empty: the read waits on its thread";
        EXPECT_THROW(co_await f->seek(0), std::system_error) << "a pipe cannot seek";
        // Let go of the handle while its read is in flight; the job keeps the descriptor.
        f.reset();
        EXPECT_EQ(::write(fds[1], "hello", 5), 5);
        EXPECT_EQ(co_await reading, "hello");
    }());
    ::close(fds[0]);
    ::close(fds[1]);
    EXPECT_EQ(aiotest::open_fds(), fds_before - 2) << "the file's own descriptor was closed";
}

TEST(FilesOs, StatMakedirsRenameListdirRemove) {
    aiotest::TempDir dir;
    aiotest::run_net([&]() -> aio::Task<void> {
        const std::string deep = dir.path() + "/a/b/c";
        co_await files::os::makedirs(deep);
        EXPECT_TRUE(co_await files::os::path::isdir(deep));
        co_await files::os::makedirs(deep, 0777, true);
        auto again = co_await aiotest::capture<std::system_error>(files::os::makedirs(deep));
        EXPECT_TRUE(again && again->code() == std::errc::file_exists);
        {
            files::File f = co_await files::open(deep + "/x.txt", "w");
            co_await f.write("12345");
        }
        files::os::StatResult st = co_await files::os::stat(deep + "/x.txt");
        EXPECT_EQ(st.st_size, 5u);
        EXPECT_TRUE(st.is_file());
        EXPECT_FALSE(st.is_dir());
        EXPECT_EQ(co_await files::os::path::getsize(deep + "/x.txt"), 5u);
        co_await files::os::rename(deep + "/x.txt", deep + "/y.txt");
        EXPECT_FALSE(co_await files::os::path::exists(deep + "/x.txt"));
        EXPECT_TRUE(co_await files::os::path::isfile(deep + "/y.txt"));
        co_await files::os::mkdir(deep + "/d");
        std::vector<std::string> names = co_await files::os::listdir(deep);
        EXPECT_EQ(names, (std::vector<std::string>{"d", "y.txt"}));
        auto not_empty = co_await aiotest::capture<std::system_error>(files::os::rmdir(deep));
        EXPECT_TRUE(not_empty && not_empty->code() == std::errc::directory_not_empty);
        auto dir_removed = co_await aiotest::capture<std::system_error>(files::os::remove(deep + "/d"));
        EXPECT_TRUE(dir_removed && dir_removed->code() == std::errc::is_a_directory);
        co_await files::os::remove(deep + "/y.txt");
        co_await files::os::rmdir(deep + "/d");
        co_await files::os::rmdir(deep);
        EXPECT_FALSE(co_await files::os::path::exists(deep));
        auto missing = co_await aiotest::capture<std::system_error>(files::os::stat(deep));
        EXPECT_TRUE(missing && missing->code() == std::errc::no_such_file_or_directory);
        auto through_file = co_await aiotest::capture<std::system_error>(files::os::makedirs(dir.path() + "/a/b/f/g"));
        EXPECT_FALSE(through_file.has_value()) << "a, b exist as directories";
        {
            files::File f = co_await files::open(dir.path() + "/plain", "w");
        }
        auto under_file = co_await aiotest::capture<std::system_error>(files::os::makedirs(dir.path() + "/plain/sub"));
        EXPECT_TRUE(under_file && under_file->code() == std::errc::not_a_directory);
    }());
}
