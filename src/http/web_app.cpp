// Application, Router and the HTTP exceptions (include/aio/http/web_app.hpp, web_exceptions.hpp).
#include <algorithm>
#include <stdexcept>

#include "web_internal.hpp"

namespace aio::http {

std::string_view status_reason(int status) noexcept {
    switch (status) {
        case 100: return "Continue";
        case 101: return "Switching Protocols";
        case 200: return "OK";
        case 201: return "Created";
        case 202: return "Accepted";
        case 203: return "Non-Authoritative Information";
        case 204: return "No Content";
        case 205: return "Reset Content";
        case 206: return "Partial Content";
        case 300: return "Multiple Choices";
        case 301: return "Moved Permanently";
        case 302: return "Found";
        case 303: return "See Other";
        case 304: return "Not Modified";
        case 307: return "Temporary Redirect";
        case 308: return "Permanent Redirect";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 406: return "Not Acceptable";
        case 408: return "Request Timeout";
        case 409: return "Conflict";
        case 410: return "Gone";
        case 411: return "Length Required";
        case 412: return "Precondition Failed";
        case 413: return "Request Entity Too Large";
        case 414: return "Request-URI Too Long";
        case 415: return "Unsupported Media Type";
        case 416: return "Requested Range Not Satisfiable";
        case 417: return "Expectation Failed";
        case 422: return "Unprocessable Entity";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        case 505: return "HTTP Version Not Supported";
        default: return "";
    }
}

// --- exceptions ---------------------------------------------------------------------------

namespace {
std::string default_text(int status, std::string text) {
    if (!text.empty()) return text;
    return std::to_string(status) + ": " + std::string(status_reason(status));
}
std::string join(const std::vector<std::string>& items, std::string_view sep) {
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += sep;
        out += items[i];
    }
    return out;
}
}  // namespace

HTTPException::HTTPException(int status, std::string text, Headers headers)
    : Error(default_text(status, text)), status_(status), text_(default_text(status, std::move(text))),
      headers_(std::move(headers)) {
    if (status < 100 || status > 999) throw std::invalid_argument("HTTP status out of range: " + std::to_string(status));
}

HTTPMethodNotAllowed::HTTPMethodNotAllowed(const std::string& method, const std::vector<std::string>& allowed)
    : HTTPException(405, "405: Method Not Allowed (" + method + ")", Headers{{"Allow", join(allowed, ", ")}}) {}

HTTPRequestEntityTooLarge::HTTPRequestEntityTooLarge(uint64_t max_size, uint64_t actual_size)
    : HTTPException(413, "Maximum request body size " + std::to_string(max_size) + " exceeded, actual body size " +
                             std::to_string(actual_size)) {}

HTTPRedirection::HTTPRedirection(int status, const std::string& location)
    : HTTPException(status, {}, Headers{{"Location", location}}) {
    if (location.empty()) throw std::invalid_argument("a redirect needs a location");
}

// --- paths --------------------------------------------------------------------------------

namespace detail {
namespace {
int hex(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
}  // namespace

std::string decode_path(std::string_view raw, bool keep_slash) {
    std::string out;
    out.reserve(raw.size());
    for (size_t i = 0; i < raw.size(); ++i) {
        char c = raw[i];
        if (c != '%') {
            out += c;
            continue;
        }
        if (i + 2 >= raw.size()) throw HTTPBadRequest("bad percent-escape in the path");
        int h = hex(raw[i + 1]), l = hex(raw[i + 2]);
        if (h < 0 || l < 0) throw HTTPBadRequest("bad percent-escape in the path");
        char d = static_cast<char>(h * 16 + l);
        if (d == '\0') throw HTTPBadRequest("a NUL byte in the path");
        if (keep_slash && d == '/') out.append(raw.substr(i, 3));
        else out += d;
        i += 2;
    }
    return out;
}

// --- router --------------------------------------------------------------------------------

namespace {
bool is_regex_special(char c) noexcept { return std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos; }

/// Compiles "/a/{id}/{rest:.*}" into a regex over the match path and the parts' names.
void compile_pattern(Resource& r) {
    const std::string& p = r.pattern;
    std::string re = "^";
    size_t i = 0;
    while (i < p.size()) {
        char c = p[i];
        if (c == '{') {
            size_t close = std::string::npos;
            int depth = 0;
            for (size_t j = i + 1; j < p.size(); ++j) {
                if (p[j] == '{') ++depth;
                else if (p[j] == '}') {
                    if (depth == 0) {
                        close = j;
                        break;
                    }
                    --depth;
                }
            }
            if (close == std::string::npos) throw std::invalid_argument("unbalanced '{' in route '" + p + "'");
            std::string part = p.substr(i + 1, close - i - 1);
            size_t colon = part.find(':');
            std::string name = part.substr(0, colon);
            std::string expr = colon == std::string::npos ? "[^/]+" : part.substr(colon + 1);
            if (name.empty()) throw std::invalid_argument("a route part without a name in '" + p + "'");
            if (std::find(r.names.begin(), r.names.end(), name) != r.names.end())
                throw std::invalid_argument("route part '" + name + "' twice in '" + p + "'");
            std::regex check(expr);
            if (check.mark_count() != 0)
                throw std::invalid_argument("route part '" + name + "' of '" + p +
                                            "' has a capturing group: use (?:...)");
            r.names.push_back(std::move(name));
            re += "(" + expr + ")";
            i = close + 1;
        } else if (c == '}') {
            throw std::invalid_argument("unbalanced '}' in route '" + p + "'");
        } else {
            if (is_regex_special(c)) re += '\\';
            re += c;
            ++i;
        }
    }
    re += "$";
    r.re = std::regex(re);
}

bool method_matches(const Route& route, std::string_view method) noexcept {
    return route.method == "*" || route.method == method;
}
}  // namespace

Resource& RouterImpl::resource_for(const std::string& pattern) {
    if (pattern.empty() || pattern.front() != '/') throw std::invalid_argument("a route must start with '/': '" + pattern + "'");
    for (auto& r : resources)
        if (r->pattern == pattern) return *r;
    auto r = std::make_unique<Resource>();
    r->pattern = pattern;
    r->dynamic = pattern.find_first_of("{}") != std::string::npos;
    if (r->dynamic) {
        compile_pattern(*r);
        first_dynamic = std::min(first_dynamic, resources.size());
    } else {
        plain.emplace(pattern, resources.size());
    }
    resources.push_back(std::move(r));
    return *resources.back();
}

const Handler* RouterImpl::resolve(RequestState& req) const {
    const std::string& path = req.match_path.empty() ? req.path : req.match_path;
    const std::string& method = req.head.method;
    size_t limit = resources.size();
    if (auto it = plain.find(path); it != plain.end()) {
        limit = it->second + 1;
        if (it->second < first_dynamic) {  // no pattern added before it could claim the path
            for (const Route& route : resources[it->second]->routes) {
                if (!method_matches(route, method)) continue;
                req.match_info.clear();
                return &route.composed;
            }
        }
    }
    std::vector<std::string>& allowed = req.allowed;
    allowed.clear();
    std::smatch m;
    for (size_t i = 0; i < limit; ++i) {
        const Resource& r = *resources[i];
        if (r.dynamic) {
            if (!std::regex_match(path, m, r.re)) continue;
        } else if (r.pattern != path) {
            continue;
        }
        for (const Route& route : r.routes) {
            if (!method_matches(route, method)) continue;
            req.match_info.clear();
            for (size_t k = 0; k < r.names.size(); ++k)
                req.match_info.add(r.names[k], decode_path(m[k + 1].str(), false));
            return &route.composed;
        }
        for (const Route& route : r.routes)
            if (std::find(allowed.begin(), allowed.end(), route.method) == allowed.end()) allowed.push_back(route.method);
    }
    req.route_status = allowed.empty() ? 404 : 405;
    return nullptr;
}
}  // namespace detail

Router::Router() : impl_(std::make_unique<detail::RouterImpl>()) {}
Router::~Router() = default;

void Router::add_route(std::string method, std::string path, Handler handler) {
    if (impl_->frozen && *impl_->frozen) throw RuntimeError("cannot add a route: the application is frozen (running)");
    if (!handler) throw std::invalid_argument("add_route: empty handler");
    if (method.empty()) throw std::invalid_argument("add_route: empty method");
    for (char& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    detail::Resource& r = impl_->resource_for(path);
    for (const auto& route : r.routes)
        if (route.method == method) throw RuntimeError("a route for " + method + " " + path + " already exists");
    r.routes.push_back(detail::Route{std::move(method), std::move(handler), {}});
}

void Router::add_get(std::string path, Handler handler, bool allow_head) {
    if (allow_head) add_route("HEAD", path, handler);
    add_route("GET", std::move(path), std::move(handler));
}

Application::Application(ApplicationOptions options) : options_(options) { router_.impl().frozen = &frozen_; }

void Application::check_not_frozen(const char* what) const {
    if (frozen_) throw RuntimeError(std::string("cannot ") + what + ": the application is frozen (running)");
}

void Application::add_middleware(Middleware mw) {
    check_not_frozen("add a middleware");
    if (!mw) throw std::invalid_argument("add_middleware: empty middleware");
    middlewares_.push_back(std::move(mw));
}

namespace {
Handler compose(const std::vector<Middleware>& mws, Handler inner) {
    for (auto it = mws.rbegin(); it != mws.rend(); ++it)
        inner = [mw = *it, next = std::move(inner)](Request r) { return mw(std::move(r), next); };
    return inner;
}

Task<Response> not_found(Request request) {
    const auto& s = *request.state();
    if (s.route_status == 405) throw HTTPMethodNotAllowed(s.head.method, s.allowed);
    throw HTTPNotFound();
    co_return Response();
}
}  // namespace

void Application::freeze() {
    if (frozen_) return;
    auto& impl = router_.impl();
    for (auto& r : impl.resources)
        for (auto& route : r->routes) route.composed = compose(middlewares_, route.handler);
    impl.not_found = compose(middlewares_, Handler(not_found));
    frozen_ = true;
}

Task<Response> Application::handle(Request request) {
    if (!frozen_) freeze();
    const Handler* h = router_.impl().resolve(*request.state());
    if (!h) h = &router_.impl().not_found;
    std::optional<HTTPException> http_error;
    try {
        co_return co_await (*h)(request);
    } catch (const HTTPException& e) {
        http_error.emplace(e);
    }
    co_return detail::exception_response(*http_error);
}

Response detail::exception_response(const HTTPException& e) {
    Response resp(e.text(), e.status());
    for (const auto& [k, v] : e.headers()) resp.headers().add(k, v);
    return resp;
}

}  // namespace aio::http
