// aiohttp.web's HTTP exceptions: raise one from a handler (or a middleware) and the client gets
// that status. web.HTTPNotFound, web.HTTPBadRequest, web.HTTPFound(location)...
#pragma once

#include <string>
#include <vector>

#include "aio/core/errors.hpp"
#include "aio/http/headers.hpp"

namespace aio::http {

/// web.HTTPException(status, reason=, text=, headers=): the response it stands for.
/// Catching it in a middleware lets the middleware change the answer (aiohttp allows the same).
class HTTPException : public Error {
public:
    explicit HTTPException(int status, std::string text = {}, Headers headers = {});
    [[nodiscard]] int status() const noexcept { return status_; }
    /// The body: `text`, or "<status>: <reason>" when none was given (as aiohttp).
    [[nodiscard]] const std::string& text() const noexcept { return text_; }
    [[nodiscard]] const Headers& headers() const noexcept { return headers_; }
    [[nodiscard]] Headers& headers() noexcept { return headers_; }

private:
    int status_;
    std::string text_;
    Headers headers_;
};

/// web.HTTPBadRequest (400).
class HTTPBadRequest : public HTTPException {
public:
    explicit HTTPBadRequest(std::string text = {}) : HTTPException(400, std::move(text)) {}
};
/// web.HTTPForbidden (403).
class HTTPForbidden : public HTTPException {
public:
    explicit HTTPForbidden(std::string text = {}) : HTTPException(403, std::move(text)) {}
};
/// web.HTTPNotFound (404).
class HTTPNotFound : public HTTPException {
public:
    explicit HTTPNotFound(std::string text = {}) : HTTPException(404, std::move(text)) {}
};
/// web.HTTPMethodNotAllowed(method, allowed_methods) (405, with an Allow header).
class HTTPMethodNotAllowed : public HTTPException {
public:
    HTTPMethodNotAllowed(const std::string& method, const std::vector<std::string>& allowed);
};
/// web.HTTPRequestEntityTooLarge (413): a body over client_max_size.
class HTTPRequestEntityTooLarge : public HTTPException {
public:
    HTTPRequestEntityTooLarge(uint64_t max_size, uint64_t actual_size);
};
/// web.HTTPInternalServerError (500).
class HTTPInternalServerError : public HTTPException {
public:
    explicit HTTPInternalServerError(std::string text = {}) : HTTPException(500, std::move(text)) {}
};
/// web.HTTPFound(location) (302) and the other redirects: web.HTTPMovedPermanently (301),
/// web.HTTPSeeOther (303), web.HTTPTemporaryRedirect (307), web.HTTPPermanentRedirect (308).
class HTTPRedirection : public HTTPException {
public:
    HTTPRedirection(int status, const std::string& location);
};
class HTTPFound : public HTTPRedirection {
public:
    explicit HTTPFound(const std::string& location) : HTTPRedirection(302, location) {}
};
class HTTPMovedPermanently : public HTTPRedirection {
public:
    explicit HTTPMovedPermanently(const std::string& location) : HTTPRedirection(301, location) {}
};
class HTTPSeeOther : public HTTPRedirection {
public:
    explicit HTTPSeeOther(const std::string& location) : HTTPRedirection(303, location) {}
};
class HTTPTemporaryRedirect : public HTTPRedirection {
public:
    explicit HTTPTemporaryRedirect(const std::string& location) : HTTPRedirection(307, location) {}
};
class HTTPPermanentRedirect : public HTTPRedirection {
public:
    explicit HTTPPermanentRedirect(const std::string& location) : HTTPRedirection(308, location) {}
};

}  // namespace aio::http
