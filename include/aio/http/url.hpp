// aio::http::URL — yarl.URL as aiohttp uses it — and the urllib.parse helpers the HTTP layer needs
// (quote, unquote, urlencode, parse_qsl).
//
// A URL keeps its path, query and fragment percent-encoded as written ("raw"), because that is
// what goes on the wire: decoding and re-encoding would change "%2F" into "/" and alter the
// resource. Userinfo is kept decoded, as yarl does, since it is only ever used decoded (Basic auth).
// No IDNA: a host is lower-cased and otherwise kept as written.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aio::http {

/// yarl.URL: an absolute or relative URL reference (RFC 3986), its parts kept decoded where yarl
/// does. Immutable in spirit: the with_*() members return a modified copy.
class URL {
public:
    URL() = default;
    /// yarl.URL(str). Throws std::invalid_argument("invalid URL '...': reason") for input that
    /// cannot be requested safely: whitespace or control characters, a port that is not a number or
    /// above 65535, an unterminated or malformed IPv6 literal, an empty host after "http://".
    /// An empty string is a valid, empty relative reference.
    explicit URL(std::string_view text);
    /// The same as the constructor, for call sites that read better with a name.
    [[nodiscard]] static URL parse(std::string_view text) { return URL(text); }

    /// url.scheme: lower-cased ("http"); "" for a relative reference.
    [[nodiscard]] const std::string& scheme() const noexcept { return scheme_; }
    /// url.user: decoded; "" if absent.
    [[nodiscard]] const std::string& user() const noexcept { return user_; }
    /// url.password: decoded; "" if absent.
    [[nodiscard]] const std::string& password() const noexcept { return password_; }
    /// url.host: lower-cased; an IPv6 address without its brackets ("::1"), ready for getaddrinfo.
    [[nodiscard]] const std::string& host() const noexcept { return host_; }
    /// url.explicit_port: the port written in the URL, if any.
    [[nodiscard]] std::optional<uint16_t> explicit_port() const noexcept { return port_; }
    /// url.port: the explicit port, else the scheme's default (80 http/ws, 443 https/wss), else 0.
    [[nodiscard]] uint16_t port() const noexcept;
    /// url.raw_path: percent-encoded, as written; "/" for a URL with a host and an empty path, which
    /// is what a request for "http://h" must send.
    [[nodiscard]] const std::string& raw_path() const noexcept;
    /// url.path: percent-decoded.
    [[nodiscard]] std::string path() const;
    /// url.raw_query_string: without the '?', percent-encoded.
    [[nodiscard]] const std::string& raw_query() const noexcept { return raw_query_; }
    /// url.query: the decoded (name, value) pairs in order; '+' means a space, as in form data.
    [[nodiscard]] std::vector<std::pair<std::string, std::string>> query() const;
    /// url.fragment: decoded; "" if absent.
    [[nodiscard]] const std::string& fragment() const noexcept { return fragment_; }
    /// url.raw_fragment: as written.
    [[nodiscard]] const std::string& raw_fragment() const noexcept { return raw_fragment_; }
    /// url.absolute: has a scheme and a host, i.e. can be requested as is.
    [[nodiscard]] bool is_absolute() const noexcept { return !scheme_.empty() && !host_.empty(); }
    /// url.is_default_port(): no explicit port, or the one the scheme implies anyway.
    [[nodiscard]] bool is_default_port() const noexcept;

    /// host[:port] as sent in a Host header: the port only when it is not the scheme's default
    /// (servers compare Host literally); an IPv6 address in brackets.
    [[nodiscard]] std::string host_port() const;
    /// url.raw_path_qs: the request target of an origin-form request line: raw_path, then
    /// "?" + raw_query if there is a query; "/" if the path is empty.
    [[nodiscard]] std::string path_qs() const;
    /// url.origin(): scheme://host[:port], without userinfo, path, query or fragment; a default port
    /// is dropped so that "http://h:80" and "http://h" are the same origin (redirects compare them
    /// to decide whether credentials may follow). Throws std::invalid_argument for a relative URL.
    [[nodiscard]] URL origin() const;
    /// url.join(ref): resolves a reference against this base (RFC 3986 section 5.2, strict), as a
    /// redirect's Location and a session's base_url need.
    [[nodiscard]] URL join(const URL& ref) const;
    /// url.with_query(pairs): replaces the query. Names and values are percent-encoded (a space as
    /// "%20", never '+', so the result reads the same whatever decoder the server uses); an empty
    /// list removes the query.
    [[nodiscard]] URL with_query(const std::vector<std::pair<std::string, std::string>>& params) const;
    /// url.extend_query(pairs) / update_query: appends these pairs, keeping the existing query.
    [[nodiscard]] URL extend_query(const std::vector<std::pair<std::string, std::string>>& params) const;
    /// url.with_fragment(f): `fragment` is decoded text; "" removes the fragment.
    [[nodiscard]] URL with_fragment(std::string_view fragment) const;
    /// url.with_user(u).with_password(p): decoded credentials; both empty removes them. Throws
    /// std::invalid_argument when setting credentials on a URL without a host.
    [[nodiscard]] URL with_user_password(std::string_view user, std::string_view password) const;

    /// str(url): the serialized URL (IPv6 hosts in brackets, the port only if written, path and
    /// query as raw). URL(u.str()) == u.
    [[nodiscard]] std::string str() const;
    /// url.human_repr(), minus the userinfo: for logs and error messages, which must never leak
    /// a password.
    [[nodiscard]] std::string human_repr() const;

    /// yarl's URL equality: part by part, "http://h" equal to "http://h/".
    friend bool operator==(const URL& a, const URL& b) noexcept;

private:
    [[nodiscard]] std::string authority(bool with_userinfo) const;
    [[nodiscard]] std::string serialize(bool with_userinfo) const;

    std::string scheme_;
    std::string user_;
    std::string password_;
    std::string host_;
    std::optional<uint16_t> port_;
    std::string raw_path_;
    std::string raw_query_;
    std::string raw_fragment_;
    std::string fragment_;
    // Whether "//", "?" and "#" were present: "file:///x" has an empty authority, and RFC 3986's
    // join tells an empty query ("?") from an absent one.
    bool has_authority_ = false;
    bool has_query_ = false;
    bool has_fragment_ = false;
};

/// urllib.parse.quote(s, safe): percent-encodes every byte outside the unreserved set
/// (A-Z a-z 0-9 - . _ ~) and `safe`, with upper-case hex digits.
[[nodiscard]] std::string quote(std::string_view s, std::string_view safe = "/");
/// urllib.parse.unquote(s) (unquote_plus when `plus_as_space`, for form data): decodes %XX bytes;
/// an invalid escape is left as it is rather than rejected, as Python does.
[[nodiscard]] std::string unquote(std::string_view s, bool plus_as_space = false);
/// urllib.parse.urlencode(pairs): application/x-www-form-urlencoded, a space as '+' as browsers
/// send forms, everything else outside the unreserved set percent-encoded ('/' included).
[[nodiscard]] std::string urlencode(const std::vector<std::pair<std::string, std::string>>& pairs);
/// urllib.parse.parse_qsl(s, keep_blank_values=True): splits a query or a form body on '&' and
/// decodes it; "a" gives ("a", ""), empty fields are skipped.
[[nodiscard]] std::vector<std::pair<std::string, std::string>> parse_qsl(std::string_view s);

}  // namespace aio::http
