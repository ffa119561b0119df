// web.FileResponse (include/aio/http/web_fileresponse.hpp): what to answer for a file — the
// conditional requests, the byte range, the content type. The connection sends the bytes
// (web_protocol.cpp) with aio::sendfile.
#include "aio/http/web_fileresponse.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <optional>
#include <string_view>

#include "aio/http/web_exceptions.hpp"
#include "content_type.hpp"
#include "web_internal.hpp"

namespace aio::http {

namespace detail {

FileSource::~FileSource() {
    if (fd >= 0) ::close(fd);
}

namespace {

std::string_view guess_type(std::string_view path) {
    const size_t slash = path.rfind('/');
    const size_t dot = path.rfind('.');
    if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash)) return "application/octet-stream";
    const std::string ext = lower(path.substr(dot + 1));
    struct Entry {
        std::string_view ext, type;
    };
    // The types a static site serves; anything else is bytes (the browser decides).
    static constexpr Entry kTypes[] = {
        {"html", "text/html"},         {"htm", "text/html"},         {"css", "text/css"},
        {"js", "text/javascript"},     {"mjs", "text/javascript"},   {"json", "application/json"},
        {"txt", "text/plain"},         {"md", "text/markdown"},      {"csv", "text/csv"},
        {"xml", "application/xml"},    {"svg", "image/svg+xml"},     {"png", "image/png"},
        {"jpg", "image/jpeg"},         {"jpeg", "image/jpeg"},       {"gif", "image/gif"},
        {"webp", "image/webp"},        {"ico", "image/vnd.microsoft.icon"}, {"pdf", "application/pdf"},
        {"wasm", "application/wasm"},  {"woff", "font/woff"},        {"woff2", "font/woff2"},
        {"mp4", "video/mp4"},          {"webm", "video/webm"},       {"mp3", "audio/mpeg"},
        {"zip", "application/zip"},    {"gz", "application/gzip"},   {"tar", "application/x-tar"},
    };
    for (const auto& e : kTypes)
        if (e.ext == ext) return e.type;
    return "application/octet-stream";
}

// IMF-fixdate only ("Sun, 06 Nov 1994 08:49:37 GMT"); a date we cannot read is ignored, which
// RFC 9110 §13.1.3 asks for.
std::optional<time_t> parse_http_date(std::string_view s) {
    static constexpr std::string_view kMonths = "JanFebMarAprMayJunJulAugSepOctNovDec";
    if (s.size() != 29 || s[3] != ',' || s.substr(25) != " GMT") return std::nullopt;
    auto num = [&](size_t pos, size_t len) -> int {
        int v = -1;
        auto [p, ec] = std::from_chars(s.data() + pos, s.data() + pos + len, v);
        return (ec == std::errc() && p == s.data() + pos + len) ? v : -1;
    };
    const size_t mon = kMonths.find(s.substr(8, 3));
    tm t{};
    t.tm_mday = num(5, 2);
    t.tm_year = num(12, 4) - 1900;
    t.tm_hour = num(17, 2);
    t.tm_min = num(20, 2);
    t.tm_sec = num(23, 2);
    if (mon == std::string_view::npos || mon % 3 || t.tm_mday < 1 || t.tm_year < 70 || t.tm_hour < 0 || t.tm_min < 0 ||
        t.tm_sec < 0)
        return std::nullopt;
    t.tm_mon = static_cast<int>(mon / 3);
    return ::timegm(&t);
}

// Does a list of entity tags (If-Match / If-None-Match) name `etag`? Weak comparison ignores
// W/ prefixes (If-None-Match); strong comparison never matches a weak tag (If-Match, If-Range).
bool etag_listed(std::string_view list, std::string_view etag, bool strong) {
    list = trim(list);
    if (list == "*") return true;
    while (!list.empty()) {
        const size_t comma = list.find(',');
        std::string_view tag = trim(list.substr(0, comma));
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
        const bool weak = tag.size() > 2 && tag.substr(0, 2) == "W/";
        if (weak) {
            if (strong) continue;
            tag.remove_prefix(2);
        }
        if (tag == etag) return true;
    }
    return false;
}

struct ByteRange {
    uint64_t first = 0, last = 0;  // inclusive
};
enum class RangeResult { none, one, unsatisfiable };

// One "bytes=" range of RFC 9110 §14.1.2. Anything else — another unit, several ranges, a
// malformed spec — is ignored (the whole file is sent), which the RFC allows.
RangeResult parse_range(std::string_view h, uint64_t size, ByteRange& out) {
    h = trim(h);
    if (h.size() < 6 || lower(h.substr(0, 6)) != "bytes=") return RangeResult::none;
    std::string_view spec = trim(h.substr(6));
    if (spec.find(',') != std::string_view::npos) return RangeResult::none;
    const size_t dash = spec.find('-');
    if (dash == std::string_view::npos) return RangeResult::none;
    auto parse = [](std::string_view d, uint64_t& v) {
        if (d.empty()) return false;
        auto [p, ec] = std::from_chars(d.data(), d.data() + d.size(), v);
        return ec == std::errc() && p == d.data() + d.size();
    };
    const std::string_view a = trim(spec.substr(0, dash)), b = trim(spec.substr(dash + 1));
    uint64_t first = 0, last = 0;
    if (a.empty()) {  // the last b bytes
        if (!parse(b, last)) return RangeResult::none;
        if (last == 0 || size == 0) return RangeResult::unsatisfiable;
        out.first = size - std::min(last, size);
        out.last = size - 1;
        return RangeResult::one;
    }
    if (!parse(a, first)) return RangeResult::none;
    if (b.empty()) {
        last = UINT64_MAX;
    } else if (!parse(b, last) || last < first) {
        return RangeResult::none;
    }
    if (first >= size) return RangeResult::unsatisfiable;
    out.first = first;
    out.last = std::min(last, size - 1);
    return RangeResult::one;
}

Response plain(int status, std::string text) {
    Response r(std::move(text), status);
    return r;
}

}  // namespace

FilePlan plan_file(const Response& resp, const RequestState& req) {
    const std::shared_ptr<FileSource>& src = ResponseAccess::file(resp);
    FilePlan plan;
    std::shared_ptr<FileSource> file = src;
    if (src->fd < 0) {
        file = std::make_shared<FileSource>();
        file->fd = ::open(src->path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (file->fd < 0) {
            if (errno == EACCES || errno == EPERM) throw HTTPForbidden();
            throw HTTPNotFound();
        }
    }
    struct stat st {};
    if (::fstat(file->fd, &st) != 0) throw HTTPNotFound();
    if (S_ISDIR(st.st_mode)) throw HTTPForbidden();
    if (!S_ISREG(st.st_mode)) throw HTTPNotFound();
    const auto size = static_cast<uint64_t>(st.st_size);
    const auto mtime_ns = static_cast<uint64_t>(st.st_mtim.tv_sec) * 1000000000ULL + static_cast<uint64_t>(st.st_mtim.tv_nsec);
    char etag_buf[48];
    const int n = std::snprintf(etag_buf, sizeof etag_buf, "\"%llx-%llx\"", static_cast<unsigned long long>(mtime_ns),
                                static_cast<unsigned long long>(size));
    const std::string etag(etag_buf, static_cast<size_t>(n));
    const std::string last_modified = format_http_date(st.st_mtim.tv_sec);
    const Headers& in = req.head.headers;
    const bool get_or_head = req.head.method == "GET" || req.head.method == "HEAD";

    auto validators = [&](Response& r) {
        r.headers().set("ETag", etag);
        r.headers().set("Last-Modified", last_modified);
    };
    // RFC 9110 §13.2.2: the preconditions, in their order.
    if (auto im = in.get("If-Match")) {
        if (!etag_listed(*im, etag, true)) {
            plan.head = plain(412, "412: Precondition Failed");
            return plan;
        }
    } else if (auto ius = in.get("If-Unmodified-Since")) {
        auto d = parse_http_date(*ius);
        if (d && st.st_mtim.tv_sec > *d) {
            plan.head = plain(412, "412: Precondition Failed");
            return plan;
        }
    }
    bool not_modified = false;
    if (auto inm = in.get("If-None-Match")) {
        not_modified = etag_listed(*inm, etag, false);
        if (not_modified && !get_or_head) {
            plan.head = plain(412, "412: Precondition Failed");
            return plan;
        }
    } else if (auto ims = in.get("If-Modified-Since"); ims && get_or_head) {
        auto d = parse_http_date(*ims);
        not_modified = d && st.st_mtim.tv_sec <= *d;
    }
    if (not_modified) {
        plan.head.set_status(304);
        validators(plan.head);
        plan.head.headers().extend(resp.headers(), true);
        return plan;
    }

    int status = resp.status();
    uint64_t offset = 0, length = size;
    std::string content_range;
    if (req.head.method == "GET" && status == 200) {
        auto range = in.get("Range");
        if (range) {
            if (auto ir = in.get("If-Range")) {  // the range only if the file is still that one
                const std::string_view v = trim(*ir);
                bool same = false;
                if (!v.empty() && (v.front() == '"' || v.substr(0, 2) == "W/")) {
                    same = v == etag;
                } else if (auto d = parse_http_date(v)) {
                    same = *d == st.st_mtim.tv_sec;
                }
                if (!same) range.reset();
            }
        }
        ByteRange br;
        const RangeResult rr = range ? parse_range(*range, size, br) : RangeResult::none;
        if (rr == RangeResult::unsatisfiable) {
            plan.head = plain(416, "416: Range Not Satisfiable");
            plan.head.headers().set("Content-Range", "bytes */" + std::to_string(size));
            return plan;
        }
        if (rr == RangeResult::one) {
            status = 206;
            offset = br.first;
            length = br.last - br.first + 1;
            content_range = "bytes " + std::to_string(br.first) + "-" + std::to_string(br.last) + "/" + std::to_string(size);
        }
    }
    Response& h = plan.head;
    h.set_status(status, status == resp.status() ? ResponseAccess::given_reason(resp) : std::string());
    h.headers() = resp.headers();
    if (!h.headers().contains("Content-Type")) h.headers().set("Content-Type", std::string(guess_type(src->path)));
    validators(h);
    h.headers().set("Accept-Ranges", "bytes");
    if (!content_range.empty()) h.headers().set("Content-Range", std::move(content_range));
    if (resp.will_close()) h.force_close();
    plan.open = std::move(file);
    plan.offset = offset;
    plan.length = length;
    return plan;
}

}  // namespace detail

FileResponse::FileResponse(std::string path, int status) : source_(std::make_shared<detail::FileSource>()), status_(status) {
    Response probe;
    probe.set_status(status);  // the same check as every response
    source_->path = std::move(path);
}

void FileResponse::set_status(int status, std::string reason) {
    Response probe;
    probe.set_status(status);
    status_ = status;
    reason_ = std::move(reason);
}

FileResponse::operator Response() const {
    Response r;
    r.status_ = status_;
    r.reason_ = reason_;
    r.headers_ = headers_;
    r.file_ = source_;
    return r;
}

}  // namespace aio::http
