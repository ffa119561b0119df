// Content-Type parsing and the text conversions both sides need. Private to src/http.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aio::http::detail {

/// `s` without spaces and tabs at either end.
[[nodiscard]] std::string_view trim(std::string_view s) noexcept;
/// ASCII lower case.
[[nodiscard]] std::string lower(std::string_view s);

/// "text/html; charset=ISO-8859-1" -> media type "text/html" (lower-cased) and its parameters
/// (names lower-cased, quoted values unquoted).
struct ContentType {
    std::string media_type;
    std::vector<std::pair<std::string, std::string>> params;
    [[nodiscard]] std::string param(std::string_view name) const;
};
[[nodiscard]] ContentType parse_content_type(std::string_view header);

/// The body in `charset` as UTF-8: latin-1 (iso-8859-1) is converted, UTF-8 / ASCII / "" kept.
/// Other charsets are kept as they are (aiocpp has no codec tables).
[[nodiscard]] std::string to_utf8(std::string body, std::string_view charset);

}  // namespace aio::http::detail
