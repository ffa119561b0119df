// `aiocpp fetch`: a concurrent downloader. Many URLs at once over one ClientSession, each saved
// under a safe name in an output directory through async files, retried with exponential backoff
// and jitter on connection errors, timeouts, 5xx and 429 (Retry-After honoured), resumed with
// Range from a partial file, with progress and a summary. docs/fetch.md describes the command.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "aio/core/task.hpp"

namespace aio::app {

/// How fetch shows progress.
enum class FetchProgress {
    none,
    lines,  // one line per finished download (logs, pipes, tests)
    bar,    // one line redrawn in place: files done, bytes, rate (a terminal)
};

struct FetchOptions {
    FetchOptions() {}  // not an aggregate: docs/design.md, "Compiler notes" (g++ 12 and co_await)
    /// http and https URLs, each saved under the name safe_file_names() gives it.
    std::vector<std::string> urls;
    /// Where the files go; made (with its parents) if missing.
    std::string output_dir = ".";
    /// Downloads in flight at once.
    size_t concurrency = 4;
    /// The longest wait for a connection or for the next bytes of a response. A server that
    /// stalls longer has timed out (and the attempt is retried).
    std::chrono::nanoseconds timeout = std::chrono::seconds(30);
    /// Attempts after the first one, for the failures worth retrying (retryable()).
    int retries = 3;
    /// Before retry n (1, 2...): min(cap, base * 2^(n-1)), scaled by a random factor in [0.5, 1].
    std::chrono::nanoseconds backoff_base = std::chrono::milliseconds(500);
    std::chrono::nanoseconds backoff_cap = std::chrono::seconds(30);
    /// A Retry-After longer than this is not waited for: the download fails instead.
    std::chrono::nanoseconds max_retry_after = std::chrono::minutes(2);
    /// Continue a NAME.part file left by an earlier run with a Range request.
    bool resume = true;
    /// Seeds the jitter; 0 seeds it from std::random_device.
    uint64_t seed = 0;
    FetchProgress progress = FetchProgress::none;
    std::FILE* progress_out = stderr;
};

/// One URL's outcome.
struct FetchResult {
    std::string url;
    /// The file's path (output_dir/name); written only when ok.
    std::string path;
    bool ok = false;
    /// The last response's status; 0 when none came (connection error, timeout).
    int status = 0;
    /// The file's size when ok; the bytes received in this run either way.
    uint64_t size = 0;
    uint64_t received = 0;
    /// Requests made (1 + retries used).
    int attempts = 0;
    /// The download continued from a partial file (of an earlier run or an earlier attempt).
    bool resumed = false;
    /// Why it failed, one line ("404 Not Found", "timed out after 200ms without data"...).
    std::string error;
};

struct FetchSummary {
    /// In the order of the URLs.
    std::vector<FetchResult> results;
    size_t ok = 0;
    size_t failed = 0;
    /// Bytes received over the network in this run.
    uint64_t bytes = 0;
    double seconds = 0;
};

/// Bad input: a malformed URL, a file of URLs that cannot be read or holds none, bad options.
class FetchUsageError : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};
/// The run cannot start: the output directory cannot be made or written to.
class FetchError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Checks that `url` is an http or https URL with a host; FetchUsageError naming it otherwise.
void check_fetch_url(const std::string& url);
/// The URLs of a file, one a line; blank lines and '#' comments are skipped. FetchUsageError
/// when the file cannot be read, holds no URL, or a line is no http(s) URL ("FILE:LINE: ...").
[[nodiscard]] std::vector<std::string> read_fetch_urls(const std::string& path);

/// A file name for each URL, unique among them: the last path segment, percent-decoded, with
/// '/', '\\', NUL and control characters replaced by '_', a leading '.' made '_' (so no "..",
/// no hidden file), cut to 200 bytes, "index.html" when nothing is left, and "-2", "-3"...
/// before the extension for repeats. No name ends in ".part", which temporary files use.
[[nodiscard]] std::vector<std::string> safe_file_names(const std::vector<std::string>& urls);

/// The wait before retry `retry` (1 for the first): min(cap, base * 2^(retry-1)) * (0.5 + jitter / 2),
/// jitter in [0, 1].
[[nodiscard]] std::chrono::nanoseconds backoff_delay(int retry, std::chrono::nanoseconds base,
                                                     std::chrono::nanoseconds cap, double jitter);
/// A Retry-After value: delay-seconds, or an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") from
/// which `now` is subtracted (never below zero). nullopt if it is neither.
[[nodiscard]] std::optional<std::chrono::nanoseconds> parse_retry_after(std::string_view value,
                                                                        std::chrono::system_clock::time_point now);
/// Whether a response status is worth another attempt: 5xx and 429.
[[nodiscard]] bool retryable_status(int status) noexcept;

/// Downloads every URL on the running loop. Throws FetchUsageError for bad options or URLs and
/// FetchError when the output directory is unusable (before any request); a URL that fails is
/// reported in its result, it does not end the run. Cancelling leaves NAME.part files, which
/// the next run resumes.
[[nodiscard]] aio::Task<FetchSummary> fetch_all(FetchOptions options);
/// fetch_all on a loop of its own (aio::run): blocks until done.
[[nodiscard]] FetchSummary run_fetch(const FetchOptions& options);

/// "3 ok, 1 failed, 1.5 MiB in 0.42 s (3.6 MiB/s)".
[[nodiscard]] std::string format_summary(const FetchSummary& summary);
/// "1.5 MiB", "512 B": bytes for people.
[[nodiscard]] std::string format_bytes(uint64_t bytes);

}  // namespace aio::app
