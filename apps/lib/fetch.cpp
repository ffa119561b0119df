// `aiocpp fetch` (aio_app/fetch.hpp, docs/fetch.md).
//
// Each download writes NAME.part and renames it to NAME once the body has arrived whole, so a
// file under its final name is always complete: a failed, cut or cancelled download leaves only
// the .part, which the next attempt (or the next run) continues with a Range request.
#include "aio_app/fetch.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <set>
#include <system_error>
#include <utility>

#include <fmt/core.h>

#include "aio/core/errors.hpp"
#include "aio/core/gather.hpp"
#include "aio/core/run.hpp"
#include "aio/core/sleep.hpp"
#include "aio/files/file.hpp"
#include "aio/files/os.hpp"
#include "aio/http/client.hpp"
#include "aio/http/url.hpp"
#include "aio/sync/semaphore.hpp"
#include "aio/threads/bridge.hpp"
#include "aio_app/site.hpp"

namespace aio::app {

namespace {

using Clock = std::chrono::steady_clock;

std::string trim(std::string_view s) {
    const char* ws = " \t\r\n";
    const size_t b = s.find_first_not_of(ws);
    if (b == std::string_view::npos) return {};
    return std::string(s.substr(b, s.find_last_not_of(ws) - b + 1));
}

/// Why `url` cannot be fetched, or "".
std::string url_problem(const std::string& url) {
    try {
        const aio::http::URL u(url);
        if (u.scheme() != "http" && u.scheme() != "https") return "not an http or https URL";
        if (u.host().empty()) return "no host";
    } catch (const std::invalid_argument& e) {
        // "invalid URL 'x': why": the caller names the URL already.
        std::string why = e.what();
        const std::string prefix = "invalid URL '" + url + "': ";
        if (why.starts_with(prefix)) why.erase(0, prefix.size());
        return why;
    }
    return {};
}

std::string seconds_text(std::chrono::nanoseconds d) {
    return fmt::format("{:.2f} s", std::chrono::duration<double>(d).count());
}

// --- progress ------------------------------------------------------------------------------------

/// Shows what the downloads do. All on the loop's thread, so no lock.
class Meter {
public:
    Meter(FetchProgress mode, std::FILE* out, size_t files) : mode_(mode), out_(out), files_(files) {}

    void received(uint64_t n) {
        bytes_ += n;
        if (mode_ == FetchProgress::bar && Clock::now() - last_draw_ >= std::chrono::milliseconds(100)) draw();
    }

    void retrying(const std::string& url, int retry, int retries, std::chrono::nanoseconds delay,
                  const std::string& why) {
        if (mode_ == FetchProgress::none) return;
        note(fmt::format("retry {}/{} in {}: {}: {}", retry, retries, seconds_text(delay), url, why));
    }

    void finished(const FetchResult& r) {
        ++done_;
        if (mode_ == FetchProgress::none) return;
        std::string line;
        if (r.ok) {
            line = fmt::format("[{}/{}] ok: {} ({}{})", done_, files_, r.path, format_bytes(r.size),
                               r.resumed ? ", resumed" : "");
        } else {
            line = fmt::format("[{}/{}] failed: {}: {} ({} attempt{})", done_, files_, r.url, r.error, r.attempts,
                               r.attempts == 1 ? "" : "s");
        }
        // A bar shows only the failures above it; a log gets every file.
        if (mode_ == FetchProgress::lines || !r.ok) note(line);  // note() redraws a bar that was there
        if (mode_ == FetchProgress::bar && (r.ok || !drawn_)) draw();
    }

    void finish() {
        // The last file's end drew the final state.
        if (mode_ != FetchProgress::bar || !drawn_) return;
        std::fputs("\n", out_);
        std::fflush(out_);
        drawn_ = false;
    }

private:
    static constexpr size_t kWidth = 24;

    void note(const std::string& line) {
        // Over the bar, then the bar again below it.
        if (mode_ == FetchProgress::bar && drawn_) std::fputs("\r\033[K", out_);
        fmt::print(out_, "{}\n", line);
        std::fflush(out_);
        if (mode_ == FetchProgress::bar && drawn_) draw();
    }

    void draw() {
        last_draw_ = Clock::now();
        const double secs = std::chrono::duration<double>(last_draw_ - start_).count();
        const uint64_t rate = secs > 0 ? static_cast<uint64_t>(static_cast<double>(bytes_) / secs) : 0;
        const size_t cells = files_ == 0 ? kWidth : done_ * kWidth / files_;
        fmt::print(out_, "\r\033[K[{}{}] {}/{} files  {}  {}/s", std::string(cells, '#'),
                   std::string(kWidth - cells, '.'), done_, files_, format_bytes(bytes_), format_bytes(rate));
        std::fflush(out_);
        drawn_ = true;
    }

    FetchProgress mode_;
    std::FILE* out_;
    size_t files_, done_ = 0;
    uint64_t bytes_ = 0;
    Clock::time_point start_ = Clock::now();
    Clock::time_point last_draw_{};
    bool drawn_ = false;
};

// --- one download --------------------------------------------------------------------------------

struct Job {
    std::string url;
    std::string path;       // output_dir/name
    std::string part_path;  // path + ".part"
};

struct Shared {
    const FetchOptions& options;
    aio::http::ClientSession& session;
    aio::Semaphore& slots;
    Meter& meter;
    std::mt19937_64& rng;
};

enum class Verdict { done, retry, fail };

struct Attempt {
    Verdict verdict = Verdict::fail;
    std::string error;
    std::optional<std::chrono::nanoseconds> retry_after;
};

Attempt fail(std::string why) { return Attempt{Verdict::fail, std::move(why), std::nullopt}; }
Attempt retry(std::string why) { return Attempt{Verdict::retry, std::move(why), std::nullopt}; }

/// "bytes START-END/TOTAL" or "bytes */TOTAL": (START, TOTAL), either missing as nullopt.
std::pair<std::optional<uint64_t>, std::optional<uint64_t>> parse_content_range(std::string_view v) {
    std::pair<std::optional<uint64_t>, std::optional<uint64_t>> out;
    if (!v.starts_with("bytes ")) return out;
    v.remove_prefix(6);
    const size_t slash = v.find('/');
    if (slash == std::string_view::npos) return out;
    auto number = [](std::string_view s) -> std::optional<uint64_t> {
        if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string_view::npos)
            return std::nullopt;
        return std::stoull(std::string(s));
    };
    out.second = number(v.substr(slash + 1));
    const std::string_view range = v.substr(0, slash);
    const size_t dash = range.find('-');
    if (dash != std::string_view::npos) out.first = number(range.substr(0, dash));
    return out;
}

std::string status_text(const aio::http::ClientResponse& r) {
    return r.reason().empty() ? std::to_string(r.status()) : fmt::format("{} {}", r.status(), r.reason());
}

/// The size of the partial file, 0 when there is none.
aio::Task<uint64_t> partial_size(const std::string& part_path) {
    try {
        co_return co_await aio::files::os::path::getsize(part_path);
    } catch (const std::system_error&) {
        co_return 0;
    }
}

aio::Task<void> remove_quietly(std::string path) {
    try {
        co_await aio::files::os::remove(std::move(path));
    } catch (const std::system_error&) {
        // Already gone; a file that cannot be removed shows up when it is opened for writing.
    }
}

/// One request, its body written to the .part file.
aio::Task<Attempt> attempt_once(Shared& sh, const Job& job, FetchResult& res) {
    const uint64_t have = co_await partial_size(job.part_path);
    aio::http::RequestOptions ro;
    // The bytes as the server stores them: a Range of a compressed rendering would not line up.
    ro.headers.set("Accept-Encoding", "identity");
    if (have > 0) ro.headers.set("Range", fmt::format("bytes={}-", have));

    aio::http::ClientResponse r;
    std::optional<Attempt> early;
    try {
        r = co_await sh.session.get(job.url, std::move(ro));
    } catch (const aio::TimeoutError&) {
        early = retry(fmt::format("timed out after {} without an answer", format_duration(sh.options.timeout)));
    } catch (const aio::http::InvalidURL& e) {
        early = fail(e.what());
    } catch (const aio::http::ClientConnectionError& e) {
        early = retry(e.what());
    } catch (const aio::http::ClientResponseError& e) {
        early = fail(e.what());  // a malformed answer or a redirect loop: the same next time
    } catch (const std::system_error& e) {
        early = retry(e.what());
    } catch (const std::exception& e) {
        early = fail(e.what());
    }
    if (early) co_return *early;
    res.status = r.status();

    if (r.status() == 416 && have > 0) {
        // The partial file may already hold everything; otherwise it is not a prefix of this
        // resource any more, and the next attempt starts over.
        const auto [start, total] = parse_content_range(r.headers().get("Content-Range", ""));
        if (total && *total == have) {
            std::string rename_error;
            try {
                co_await aio::files::os::rename(job.part_path, job.path);
            } catch (const std::system_error& e) {
                rename_error = e.what();
            }
            if (!rename_error.empty()) co_return fail("cannot rename the finished file: " + rename_error);
            res.size = have;
            res.resumed = true;
            co_return Attempt{Verdict::done, {}, std::nullopt};
        }
        co_await remove_quietly(job.part_path);
        co_return retry("416 Range Not Satisfiable for the partial file: starting over");
    }
    if (r.status() / 100 != 2) {
        Attempt a{retryable_status(r.status()) ? Verdict::retry : Verdict::fail, status_text(r), std::nullopt};
        if (const auto ra = r.headers().get("Retry-After"))
            a.retry_after = parse_retry_after(*ra, std::chrono::system_clock::now());
        co_return a;
    }

    bool append = false;
    if (r.status() == 206) {
        const auto [start, total] = parse_content_range(r.headers().get("Content-Range", ""));
        if (have == 0 || !start || *start != have) {
            co_await remove_quietly(job.part_path);
            co_return retry("206 Partial Content for another range than asked: starting over");
        }
        append = true;
    }
    res.resumed = append;  // an earlier attempt's resume does not count if this one starts over

    std::optional<aio::files::File> out;
    std::string write_error;
    try {
        out = co_await aio::files::open(job.part_path, append ? "ab" : "wb");
    } catch (const std::system_error& e) {
        write_error = e.what();
    }
    if (!write_error.empty()) co_return fail("cannot write: " + write_error);

    uint64_t written = append ? have : 0;
    std::optional<Attempt> cut;
    for (;;) {
        std::string chunk;
        try {
            chunk = co_await r.content().readany();
        } catch (const aio::TimeoutError&) {
            cut = retry(fmt::format("timed out after {} without data", format_duration(sh.options.timeout)));
        } catch (const std::exception& e) {
            cut = retry(e.what());  // ClientPayloadError: the body was cut short
        }
        if (cut || chunk.empty()) break;
        try {
            co_await out->write(chunk);
        } catch (const std::system_error& e) {
            write_error = e.what();
        }
        if (!write_error.empty()) break;
        written += chunk.size();
        res.received += chunk.size();
        sh.meter.received(chunk.size());
    }
    try {
        co_await out->close();
    } catch (const std::system_error& e) {
        if (write_error.empty()) write_error = e.what();
    }
    if (!write_error.empty()) co_return fail("cannot write: " + write_error);
    if (cut) co_return *cut;

    try {
        co_await aio::files::os::rename(job.part_path, job.path);
    } catch (const std::system_error& e) {
        write_error = e.what();
    }
    if (!write_error.empty()) co_return fail("cannot rename the finished file: " + write_error);
    res.size = written;
    co_return Attempt{Verdict::done, {}, std::nullopt};
}

aio::Task<FetchResult> download(Shared& sh, const Job& job) {
    auto permit = co_await sh.slots.scoped();
    const FetchOptions& o = sh.options;
    FetchResult res;
    res.url = job.url;
    res.path = job.path;
    if (!o.resume) co_await remove_quietly(job.part_path);
    for (int n = 0;; ++n) {
        res.attempts = n + 1;
        Attempt a;
        try {
            a = co_await attempt_once(sh, job, res);
        } catch (const std::exception& e) {
            a = fail(e.what());  // unforeseen, but one URL's trouble must not end the others
        }
        if (a.verdict == Verdict::done) {
            res.ok = true;
            res.error.clear();
            break;
        }
        res.error = a.error;
        if (a.verdict == Verdict::fail || n >= o.retries) break;
        std::uniform_real_distribution<double> unit(0.0, 1.0);
        std::chrono::nanoseconds delay = backoff_delay(n + 1, o.backoff_base, o.backoff_cap, unit(sh.rng));
        if (a.retry_after) {
            if (*a.retry_after > o.max_retry_after) {
                res.error += fmt::format(" (Retry-After {} is longer than the {} allowed)",
                                         seconds_text(*a.retry_after), seconds_text(o.max_retry_after));
                break;
            }
            delay = std::max(delay, *a.retry_after);
        }
        sh.meter.retrying(job.url, n + 1, o.retries, delay, a.error);
        co_await aio::sleep(delay);
    }
    sh.meter.finished(res);
    co_return res;
}

/// The output directory exists (made if needed) and files can be made in it; FetchError else.
aio::Task<void> prepare_output_dir(const std::string& dir) {
    std::string problem;
    try {
        co_await aio::files::os::makedirs(dir, 0777, true);
    } catch (const std::system_error& e) {
        problem = fmt::format("cannot create the output directory {}: {}", dir, e.code().message());
    }
    if (!problem.empty()) throw FetchError(problem);
    if (!co_await aio::files::os::path::isdir(dir)) throw FetchError(fmt::format("{} is not a directory", dir));
    auto writable = [dir] { return ::access(dir.c_str(), W_OK | X_OK) == 0 ? 0 : errno; };
    const int err = co_await aio::to_thread(std::move(writable));
    if (err != 0) throw FetchError(fmt::format("cannot write to the output directory {}: {}", dir, std::strerror(err)));
}

}  // namespace

// --- input -----------------------------------------------------------------------------------------

void check_fetch_url(const std::string& url) {
    const std::string why = url_problem(url);
    if (!why.empty()) throw FetchUsageError(fmt::format("'{}': {}", url, why));
}

std::vector<std::string> read_fetch_urls(const std::string& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) throw FetchUsageError(fmt::format("--urls: {} is a directory", path));
    std::ifstream in(path);
    if (!in) throw FetchUsageError(fmt::format("--urls: cannot read {}: {}", path, std::strerror(errno)));
    std::vector<std::string> urls;
    std::string line;
    for (size_t n = 1; std::getline(in, line); ++n) {
        const size_t hash = line.find('#');
        const std::string url = trim(hash == std::string::npos ? line : line.substr(0, hash));
        if (url.empty()) continue;
        const std::string why = url_problem(url);
        if (!why.empty()) throw FetchUsageError(fmt::format("--urls: {}:{}: '{}': {}", path, n, url, why));
        urls.push_back(url);
    }
    if (in.bad()) throw FetchUsageError(fmt::format("--urls: cannot read {}: {}", path, std::strerror(errno)));
    if (urls.empty()) throw FetchUsageError(fmt::format("--urls: {} holds no URL", path));
    return urls;
}

std::vector<std::string> safe_file_names(const std::vector<std::string>& urls) {
    std::vector<std::string> names;
    std::set<std::string> taken;
    for (const std::string& url : urls) {
        std::string segment;
        try {
            const std::string raw = aio::http::URL(url).raw_path();
            segment = aio::http::unquote(raw.substr(raw.rfind('/') + 1));
        } catch (const std::invalid_argument&) {
            segment = url;
        }
        std::string name;
        for (const char c : segment) {
            const auto u = static_cast<unsigned char>(c);
            name += (c == '/' || c == '\\' || u < 0x20 || u == 0x7f) ? '_' : c;
        }
        if (name.size() > 200) {
            name.resize(200);
            // Not in the middle of a UTF-8 sequence.
            while (!name.empty() && (static_cast<unsigned char>(name.back()) & 0xC0) == 0x80)
                name.pop_back();
            if (!name.empty() && static_cast<unsigned char>(name.back()) >= 0xC0) name.pop_back();
        }
        if (!name.empty() && name[0] == '.') name[0] = '_';
        if (name.empty()) name = "index.html";
        if (name.ends_with(".part")) name += '_';
        std::string candidate = name;
        const size_t dot = name.rfind('.');
        const std::string stem = (dot == std::string::npos || dot == 0) ? name : name.substr(0, dot);
        const std::string ext = (dot == std::string::npos || dot == 0) ? "" : name.substr(dot);
        for (int k = 2; taken.count(candidate) != 0; ++k)
            candidate = fmt::format("{}-{}{}", stem, k, ext);
        taken.insert(candidate);
        names.push_back(candidate);
    }
    return names;
}

// --- retries ---------------------------------------------------------------------------------------

std::chrono::nanoseconds backoff_delay(int retry, std::chrono::nanoseconds base, std::chrono::nanoseconds cap,
                                       double jitter) {
    const double exp = std::ldexp(static_cast<double>(base.count()), std::clamp(retry - 1, 0, 60));
    const double capped = std::min(exp, static_cast<double>(cap.count()));
    const double scaled = capped * (0.5 + std::clamp(jitter, 0.0, 1.0) / 2);
    return std::chrono::nanoseconds(static_cast<int64_t>(scaled));
}

std::optional<std::chrono::nanoseconds> parse_retry_after(std::string_view value,
                                                          std::chrono::system_clock::time_point now) {
    const std::string v = trim(value);
    if (v.empty()) return std::nullopt;
    if (v.find_first_not_of("0123456789") == std::string::npos) {
        if (v.size() > 9) return std::chrono::seconds(999'999'999);  // absurdly long: over any limit
        return std::chrono::seconds(std::stoll(v));
    }
    std::tm tm{};
    const char* end = ::strptime(v.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (end == nullptr || *end != '\0') return std::nullopt;
    const auto when = std::chrono::system_clock::from_time_t(::timegm(&tm));
    if (when <= now) return std::chrono::nanoseconds(0);
    return std::chrono::duration_cast<std::chrono::nanoseconds>(when - now);
}

bool retryable_status(int status) noexcept { return status == 429 || (status >= 500 && status <= 599); }

// --- the run ---------------------------------------------------------------------------------------

aio::Task<FetchSummary> fetch_all(FetchOptions options) {
    const FetchOptions& o = options;
    if (o.urls.empty()) throw FetchUsageError("no URL to fetch");
    if (o.concurrency == 0) throw FetchUsageError("--concurrency: at least 1");
    if (o.retries < 0) throw FetchUsageError("--retries: at least 0");
    if (o.timeout.count() <= 0) throw FetchUsageError("--timeout: more than 0");
    for (const std::string& u : o.urls)
        check_fetch_url(u);
    co_await prepare_output_dir(o.output_dir);

    const std::vector<std::string> names = safe_file_names(o.urls);
    std::vector<Job> jobs;
    const std::string dir = o.output_dir.ends_with('/') ? o.output_dir : o.output_dir + "/";
    for (size_t i = 0; i < o.urls.size(); ++i)
        jobs.push_back(Job{o.urls[i], dir + names[i], dir + names[i] + ".part"});

    aio::http::ClientSessionOptions so;
    so.limit = o.concurrency;
    so.auto_decompress = false;
    so.timeout = aio::http::ClientTimeout();
    so.timeout.connect = o.timeout;
    so.timeout.sock_read = o.timeout;
    aio::http::ClientSession session(so);
    aio::Semaphore slots(static_cast<std::int64_t>(o.concurrency));
    Meter meter(o.progress, o.progress_out, jobs.size());
    std::mt19937_64 rng(o.seed != 0 ? o.seed : std::random_device{}());
    Shared sh{o, session, slots, meter, rng};

    const auto t0 = Clock::now();
    std::vector<aio::Task<FetchResult>> tasks;
    tasks.reserve(jobs.size());
    for (const Job& j : jobs)
        tasks.push_back(download(sh, j));
    FetchSummary s;
    s.results = co_await aio::gather(std::move(tasks));
    s.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    meter.finish();
    for (const FetchResult& r : s.results) {
        (r.ok ? s.ok : s.failed)++;
        s.bytes += r.received;
    }
    co_await session.close();
    co_return s;
}

FetchSummary run_fetch(const FetchOptions& options) { return aio::run(fetch_all(options)); }

std::string format_bytes(uint64_t bytes) {
    if (bytes < 1024) return fmt::format("{} B", bytes);
    const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes) / 1024;
    size_t u = 0;
    while (v >= 1024 && u + 1 < std::size(units)) {
        v /= 1024;
        ++u;
    }
    return fmt::format("{:.1f} {}", v, units[u]);
}

std::string format_summary(const FetchSummary& s) {
    const double rate = s.seconds > 0 ? static_cast<double>(s.bytes) / s.seconds : 0;
    return fmt::format("{} ok, {} failed, {} in {:.2f} s ({}/s)", s.ok, s.failed, format_bytes(s.bytes), s.seconds,
                       format_bytes(static_cast<uint64_t>(rate)));
}

}  // namespace aio::app
