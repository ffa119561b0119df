// aio::http::CookieJar — aiohttp.CookieJar: the cookies a ClientSession keeps between requests,
// with RFC 6265's domain, path, expiry and Secure rules.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aio/http/headers.hpp"
#include "aio/http/url.hpp"

namespace aio::http {

/// One stored cookie (aiohttp: a Morsel in the jar).
struct Cookie {
    std::string name;
    std::string value;
    std::string domain;       // lower-cased, without a leading dot
    std::string path;         // "/" ...
    bool host_only = true;    // no Domain attribute: only the exact host that set it
    bool secure = false;      // only over https
    bool http_only = false;
    std::optional<std::chrono::system_clock::time_point> expires;  // nullopt: a session cookie
};

/// aiohttp.CookieJar. A session has one (ClientSessionOptions::cookie_jar); several sessions may
/// share one. Used on one thread at a time.
class CookieJar {
public:
    using Clock = std::function<std::chrono::system_clock::time_point()>;
    /// aiohttp.CookieJar(unsafe=False): cookies from IP-address hosts are kept only if `unsafe`
    /// (as aiohttp). `clock` is for tests (expiry); the default is the system clock.
    explicit CookieJar(bool unsafe = false, Clock clock = {});

    /// jar.update_cookies_from_headers: the Set-Cookie headers of a response from `url`. A
    /// cookie whose Domain does not cover the URL's host, or that is malformed, is ignored (as
    /// browsers do); Max-Age <= 0 or an Expires in the past deletes the cookie.
    void update_cookies(const Headers& response_headers, const URL& url);
    /// jar.update_cookies({name: value}) for `url`'s host (host-only, path "/").
    void set(std::string name, std::string value, const URL& url);
    /// jar.filter_cookies(url): the value of the Cookie header to send to `url` ("" if none):
    /// longer paths first, then older cookies first (RFC 6265 5.4).
    [[nodiscard]] std::string cookie_header(const URL& url);
    /// The cookies that would be sent to `url`.
    [[nodiscard]] std::vector<Cookie> filter_cookies(const URL& url);
    /// jar.clear() / len(jar) / iteration.
    void clear() noexcept { cookies_.clear(); }
    [[nodiscard]] size_t size() noexcept;
    [[nodiscard]] const std::vector<Cookie>& cookies();

private:
    void add(const std::string& set_cookie, const URL& url);
    void purge_expired();
    struct Entry {
        Cookie cookie;
        uint64_t order;  // creation order, kept when a cookie is replaced
    };
    std::vector<Entry> entries_;
    std::vector<Cookie> cookies_;  // a view for cookies(), rebuilt on demand
    bool unsafe_;
    Clock clock_;
    uint64_t next_order_ = 0;
};

}  // namespace aio::http
