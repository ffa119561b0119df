// Router::add_static (include/aio/http/web_app.hpp): files under a directory, and nothing outside
// it. The kernel resolves the path beneath the root (openat2 RESOLVE_BENEATH), so no check of
// ours can be raced by a symbolic link swapped in between check and open.
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <cerrno>
#include <climits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "aio/http/url.hpp"
#include "aio/http/web_app.hpp"
#include "aio/http/web_exceptions.hpp"
#include "content_type.hpp"
#include "web_internal.hpp"

namespace aio::http {

namespace {

struct StaticRoot {
    detail::FileSource dir;  // O_PATH descriptor of the root, opened once
    std::string real;        // its resolved path (the fallback's check)
    std::string prefix;      // "/static" ("" for "/")
    StaticOptions options;
};

bool has_encoded(std::string_view raw, std::string_view hex2) {
    for (size_t i = 0; i + 2 < raw.size(); ++i)
        if (raw[i] == '%' && std::toupper(static_cast<unsigned char>(raw[i + 1])) == hex2[0] &&
            std::toupper(static_cast<unsigned char>(raw[i + 2])) == hex2[1])
            return true;
    return false;
}

// The opened file's path, as the kernel sees it.
std::string fd_path(int fd) {
    char link[64];
    std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    char buf[PATH_MAX];
    const ssize_t n = ::readlink(link, buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

// Opens `rel` beneath the root. -1 with errno set on failure.
int open_beneath(const StaticRoot& root, const std::string& rel) {
    const int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;  // a FIFO must not block the loop
    open_how how{};
    how.flags = static_cast<uint64_t>(flags);
    how.resolve = RESOLVE_NO_MAGICLINKS | (root.options.follow_symlinks ? 0 : RESOLVE_BENEATH);
    const long fd = ::syscall(SYS_openat2, root.dir.fd, rel.c_str(), &how, sizeof how);
    if (fd >= 0 || errno != ENOSYS) return static_cast<int>(fd);
    // A kernel before 5.6: open, then check where the open landed.
    const int plain = ::openat(root.dir.fd, rel.c_str(), flags);
    if (plain < 0 || root.options.follow_symlinks) return plain;
    const std::string where = fd_path(plain);
    if (where == root.real || (where.size() > root.real.size() && where.compare(0, root.real.size(), root.real) == 0 &&
                               where[root.real.size()] == '/'))
        return plain;
    ::close(plain);
    errno = EXDEV;
    return -1;
}

std::string html_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#x27;"; break;
        default: out += c;
        }
    }
    return out;
}

// aiohttp's show_index page: the entries sorted, directories with a trailing "/".
Response index_page(const StaticRoot& root, int dir_fd, const std::string& rel) {
    const int copy = ::dup(dir_fd);
    DIR* d = copy >= 0 ? ::fdopendir(copy) : nullptr;
    if (!d) {
        if (copy >= 0) ::close(copy);
        throw HTTPForbidden();
    }
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
        const std::string_view name = e->d_name;
        if (name == "." || name == "..") continue;
        std::string entry(name);
        struct stat st {};
        if (::fstatat(dir_fd, e->d_name, &st, 0) == 0 && S_ISDIR(st.st_mode)) entry += '/';
        names.push_back(std::move(entry));
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    const std::string shown = "/" + rel;
    std::string base = root.prefix + "/" + rel;
    if (base.back() != '/') base += '/';
    std::string body = "<html>\n<head>\n<title>Index of " + html_escape(shown) + "</title>\n</head>\n<body>\n<h1>Index of " +
                       html_escape(shown) + "</h1>\n<ul>\n";
    for (const auto& n : names)
        body += "<li><a href=\"" + html_escape(quote(base + n)) + "\">" + html_escape(n) + "</a></li>\n";
    body += "</ul>\n</body>\n</html>";
    return Response::html(std::move(body));
}

Response serve_static(const StaticRoot& root, const Request& request) {
    // An encoded "/" or "\" would let a single decoded segment carry a path: refused outright.
    const std::string& raw = request.raw_path();
    if (has_encoded(raw, "2F") || has_encoded(raw, "5C")) throw HTTPForbidden();
    const std::string& filename = request.match_info().at("filename");
    if (!filename.empty() && filename.front() == '/') throw HTTPForbidden();  // absolute
    std::string rel;
    size_t pos = 0;
    while (pos <= filename.size()) {
        const size_t slash = std::min(filename.find('/', pos), filename.size());
        const std::string_view seg(filename.data() + pos, slash - pos);
        pos = slash + 1;
        if (seg.empty() || seg == ".") continue;
        if (seg == ".." || seg.find('\0') != std::string_view::npos) throw HTTPForbidden();
        if (!rel.empty()) rel += '/';
        rel.append(seg);
    }
    auto file = std::make_shared<detail::FileSource>();
    file->fd = open_beneath(root, rel.empty() ? std::string(".") : rel);
    if (file->fd < 0) {
        if (errno == EACCES || errno == EPERM) throw HTTPForbidden();
        throw HTTPNotFound();  // missing, or out of the root (EXDEV, ELOOP)
    }
    struct stat st {};
    if (::fstat(file->fd, &st) != 0) throw HTTPNotFound();
    if (S_ISDIR(st.st_mode)) {
        if (!root.options.show_index) throw HTTPForbidden();
        return index_page(root, file->fd, rel);
    }
    if (!S_ISREG(st.st_mode)) throw HTTPNotFound();
    file->path = std::move(rel);  // for the content type
    Response r;
    detail::ResponseAccess::set_file(r, std::move(file));
    return r;
}

}  // namespace

void Router::add_static(std::string prefix, std::string root, StaticOptions options) {
    if (prefix.empty() || prefix.front() != '/')
        throw std::invalid_argument("add_static: the prefix must start with '/': \"" + prefix + "\"");
    while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
    if (prefix == "/") prefix.clear();
    auto state = std::make_shared<StaticRoot>();
    state->dir.fd = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (state->dir.fd < 0)
        throw std::invalid_argument("add_static: \"" + root + "\" is not a directory: " + std::strerror(errno));
    state->real = fd_path(state->dir.fd);
    state->prefix = prefix;
    state->options = options;
    Handler handler = [state](Request request) -> Task<Response> { co_return serve_static(*state, request); };
    add_get(prefix + "/{filename:.*}", std::move(handler), true);
}

}  // namespace aio::http
