// aiohttp.web.Application and its router: handlers, routes with {name} and {name:regex} parts,
// middlewares, and the startup and cleanup signals.
#pragma once

#include <any>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "aio/core/task.hpp"
#include "aio/http/web_exceptions.hpp"
#include "aio/http/web_fileresponse.hpp"
#include "aio/http/web_request.hpp"
#include "aio/http/web_response.hpp"

namespace aio::http {

/// A request handler (aiohttp: `async def handler(request) -> web.StreamResponse`).
using Handler = std::function<Task<Response>(Request)>;
/// A middleware (aiohttp: `@web.middleware async def mw(request, handler)`): calls `handler`
/// (the rest of the chain) or answers by itself. The first one added is the outermost.
using Middleware = std::function<Task<Response>(Request, Handler)>;
/// An on_startup / on_cleanup callback (aiohttp: `async def on_startup(app)`).
using AppSignal = std::function<Task<void>(class Application&)>;

namespace detail {
struct RouterImpl;
}

/// app.router (aiohttp: web.UrlDispatcher). Paths are matched against the percent-decoded path,
/// except that an encoded "/" (%2F) stays inside the segment it came in.
///
/// A pattern is literal text with `{name}` parts (one path segment: [^/]+) and
/// `{name:regex}` parts (the regex, which may span segments: `{tail:.*}`; it must not have
/// capturing groups — use (?:...)). A path that some route matches but not for this method
/// gets 405 with an Allow header; a path no route matches gets 404.
class Router {
public:
    Router();
    ~Router();
    Router(const Router&) = delete;
    Router& operator=(const Router&) = delete;

    /// router.add_route(method, path, handler); method "*" matches any method. Throws
    /// std::invalid_argument for a bad pattern and RuntimeError once the app is running.
    void add_route(std::string method, std::string path, Handler handler);
    /// router.add_get(path, handler, allow_head=True): also answers HEAD (without the body).
    void add_get(std::string path, Handler handler, bool allow_head = true);
    void add_post(std::string path, Handler handler) { add_route("POST", std::move(path), std::move(handler)); }
    void add_put(std::string path, Handler handler) { add_route("PUT", std::move(path), std::move(handler)); }
    void add_patch(std::string path, Handler handler) { add_route("PATCH", std::move(path), std::move(handler)); }
    void add_delete(std::string path, Handler handler) { add_route("DELETE", std::move(path), std::move(handler)); }
    void add_head(std::string path, Handler handler) { add_route("HEAD", std::move(path), std::move(handler)); }
    void add_options(std::string path, Handler handler) { add_route("OPTIONS", std::move(path), std::move(handler)); }
    /// router.add_static(prefix, path): GET and HEAD of `prefix`/<file> serve the file under the
    /// directory `root` (a FileResponse: ranges, ETag, sendfile). Nothing outside `root` is
    /// reachable: a ".." segment, an absolute path and an encoded separator (%2F, %5C) get 403;
    /// the file is opened beneath the root by the kernel (openat2 RESOLVE_BENEATH), so a
    /// symbolic link leading out of it is 404, as a missing file is — unless
    /// options.follow_symlinks. A directory is 403, or its listing with options.show_index.
    /// Throws std::invalid_argument if `root` is not a directory or `prefix` does not start
    /// with "/".
    void add_static(std::string prefix, std::string root, StaticOptions options = {});

    [[nodiscard]] detail::RouterImpl& impl() noexcept { return *impl_; }

private:
    std::unique_ptr<detail::RouterImpl> impl_;
};

/// Options of an Application (aiohttp: web.Application(client_max_size=...)).
struct ApplicationOptions {
    ApplicationOptions() = default;  // not an aggregate: docs/design.md, "Compiler notes"
    /// The largest request body accepted (aiohttp: client_max_size, 1 MiB): a larger one gets 413
    /// and no more than this many bytes of it are read.
    uint64_t client_max_size = 1024 * 1024;
};

/// web.Application: the router, the middlewares, the signals and the app's own state.
/// Frozen (no more routes or middlewares) once a runner has set it up.
class Application {
public:
    explicit Application(ApplicationOptions options = {});
    Application(const Application&) = delete;
    Application& operator=(const Application&) = delete;

    /// app.router.
    [[nodiscard]] Router& router() noexcept { return router_; }
    /// app.middlewares.append(mw).
    void add_middleware(Middleware mw);
    /// app.on_startup.append(cb) / app.on_cleanup.append(cb).
    std::vector<AppSignal> on_startup;
    std::vector<AppSignal> on_cleanup;
    /// app["key"]: state shared by the handlers (a std::any per key).
    std::map<std::string, std::any, std::less<>> state;
    [[nodiscard]] uint64_t client_max_size() const noexcept { return options_.client_max_size; }

    /// app.freeze(): composes each route with the middlewares; after it nothing can be added.
    void freeze();
    [[nodiscard]] bool frozen() const noexcept { return frozen_; }
    /// Answers one request: routes it and runs the middlewares and the handler. HTTPException
    /// becomes its response; any other exception propagates (the server turns it into a 500).
    [[nodiscard]] Task<Response> handle(Request request);

private:
    friend class Router;
    void check_not_frozen(const char* what) const;
    ApplicationOptions options_;
    Router router_;
    std::vector<Middleware> middlewares_;
    bool frozen_ = false;
};

}  // namespace aio::http
