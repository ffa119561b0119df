// CookieJar (include/aio/http/cookie_jar.hpp), after RFC 6265 section 5.
#include "aio/http/cookie_jar.hpp"

#include <algorithm>
#include <ctime>

#include "aio/net/address.hpp"
#include "content_type.hpp"

namespace aio::http {

namespace {
using detail::lower;
using detail::trim;

bool is_ip(const std::string& host) {
    try {
        (void)SockAddr::ip(host, 0);
        return true;
    } catch (...) {
        return false;
    }
}

/// RFC 6265 5.1.3: `domain` covers `host`.
bool domain_match(const std::string& host, const std::string& domain) {
    if (host == domain) return true;
    return host.size() > domain.size() && host.ends_with(domain) && host[host.size() - domain.size() - 1] == '.' &&
           !is_ip(host);
}

/// RFC 6265 5.1.4: the default path of a request path.
std::string default_path(const std::string& path) {
    if (path.empty() || path.front() != '/') return "/";
    size_t last = path.rfind('/');
    return last == 0 ? "/" : path.substr(0, last);
}

/// RFC 6265 5.1.4: `cookie_path` covers `request_path`.
bool path_match(const std::string& request_path, const std::string& cookie_path) {
    if (request_path == cookie_path) return true;
    if (!request_path.starts_with(cookie_path)) return false;
    return cookie_path.back() == '/' || request_path[cookie_path.size()] == '/';
}

/// An HTTP-date ("Sun, 06 Nov 1994 08:49:37 GMT"), or the older forms' common cases.
std::optional<std::chrono::system_clock::time_point> parse_date(std::string_view text) {
    const char* formats[] = {"%a, %d %b %Y %H:%M:%S", "%a, %d-%b-%Y %H:%M:%S", "%a, %d-%b-%y %H:%M:%S",
                             "%A, %d-%b-%y %H:%M:%S"};
    std::string s(trim(text));
    for (const char* f : formats) {
        tm t{};
        const char* end = ::strptime(s.c_str(), f, &t);
        if (!end) continue;
        if (t.tm_year < 70) t.tm_year += 100;  // two-digit years: 1970..2069
        return std::chrono::system_clock::from_time_t(::timegm(&t));
    }
    return std::nullopt;
}
}  // namespace

CookieJar::CookieJar(bool unsafe, Clock clock) : unsafe_(unsafe), clock_(std::move(clock)) {
    if (!clock_) clock_ = [] { return std::chrono::system_clock::now(); };
}

void CookieJar::update_cookies(const Headers& response_headers, const URL& url) {
    if (url.host().empty()) return;
    if (!unsafe_ && is_ip(url.host())) return;
    for (std::string_view h : response_headers.getall("Set-Cookie")) add(std::string(h), url);
}

void CookieJar::set(std::string name, std::string value, const URL& url) {
    add(name + "=" + value, url);
}

void CookieJar::add(const std::string& set_cookie, const URL& url) {
    std::string_view line = set_cookie;
    size_t semi = line.find(';');
    std::string_view pair = trim(line.substr(0, semi));
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos) return;  // RFC 6265 5.2 step 2: ignore it
    Cookie c;
    c.name = std::string(trim(pair.substr(0, eq)));
    c.value = std::string(trim(pair.substr(eq + 1)));
    if (c.name.empty()) return;
    if (c.value.size() >= 2 && c.value.front() == '"' && c.value.back() == '"') c.value = c.value.substr(1, c.value.size() - 2);
    std::optional<std::chrono::system_clock::time_point> expires;
    std::optional<long long> max_age;
    std::string domain_attr, path_attr;
    while (semi != std::string_view::npos) {
        line.remove_prefix(semi + 1);
        semi = line.find(';');
        std::string_view attr = trim(line.substr(0, semi));
        size_t e = attr.find('=');
        std::string key = lower(trim(attr.substr(0, e)));
        std::string_view val = e == std::string_view::npos ? std::string_view() : trim(attr.substr(e + 1));
        if (key == "expires") {
            if (auto t = parse_date(val)) expires = t;
        } else if (key == "max-age") {
            if (!val.empty() && (std::isdigit(static_cast<unsigned char>(val[0])) || val[0] == '-')) {
                try {
                    max_age = std::stoll(std::string(val));
                } catch (...) {
                }
            }
        } else if (key == "domain") {
            domain_attr = lower(val);
            if (!domain_attr.empty() && domain_attr.front() == '.') domain_attr.erase(0, 1);
        } else if (key == "path") {
            path_attr = std::string(val);
        } else if (key == "secure") {
            c.secure = true;
        } else if (key == "httponly") {
            c.http_only = true;
        }
    }
    const std::string host = lower(url.host());
    if (!domain_attr.empty()) {
        if (!domain_match(host, domain_attr)) return;  // a cookie for a domain that is not ours
        c.domain = domain_attr;
        c.host_only = false;
    } else {
        c.domain = host;
    }
    c.path = !path_attr.empty() && path_attr.front() == '/' ? path_attr : default_path(url.path());
    const auto now = clock_();
    if (max_age) c.expires = now + std::chrono::seconds(*max_age);  // Max-Age wins over Expires
    else if (expires) c.expires = expires;
    auto same = [&](const Entry& e) {
        return e.cookie.name == c.name && e.cookie.domain == c.domain && e.cookie.path == c.path;
    };
    auto it = std::find_if(entries_.begin(), entries_.end(), same);
    const bool expired = c.expires && *c.expires <= now;
    if (it != entries_.end()) {
        if (expired) entries_.erase(it);
        else it->cookie = std::move(c);
        return;
    }
    if (!expired) entries_.push_back(Entry{std::move(c), next_order_++});
}

void CookieJar::purge_expired() {
    const auto now = clock_();
    entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                  [&](const Entry& e) { return e.cookie.expires && *e.cookie.expires <= now; }),
                   entries_.end());
}

std::vector<Cookie> CookieJar::filter_cookies(const URL& url) {
    purge_expired();
    std::vector<const Entry*> matched;
    const std::string host = lower(url.host());
    const std::string path = url.path().empty() ? "/" : url.path();
    const bool secure = url.scheme() == "https" || url.scheme() == "wss";
    for (const Entry& e : entries_) {
        const Cookie& c = e.cookie;
        if (c.host_only ? host != c.domain : !domain_match(host, c.domain)) continue;
        if (!path_match(path, c.path)) continue;
        if (c.secure && !secure) continue;
        matched.push_back(&e);
    }
    std::stable_sort(matched.begin(), matched.end(), [](const Entry* a, const Entry* b) {
        if (a->cookie.path.size() != b->cookie.path.size()) return a->cookie.path.size() > b->cookie.path.size();
        return a->order < b->order;
    });
    std::vector<Cookie> out;
    for (const Entry* e : matched) out.push_back(e->cookie);
    return out;
}

std::string CookieJar::cookie_header(const URL& url) {
    std::string out;
    for (const Cookie& c : filter_cookies(url)) {
        if (!out.empty()) out += "; ";
        out += c.name;
        out += '=';
        out += c.value;
    }
    return out;
}

size_t CookieJar::size() noexcept {
    purge_expired();
    return entries_.size();
}

const std::vector<Cookie>& CookieJar::cookies() {
    purge_expired();
    cookies_.clear();
    for (const Entry& e : entries_) cookies_.push_back(e.cookie);
    return cookies_;
}

}  // namespace aio::http
