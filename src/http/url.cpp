#include "aio/http/url.hpp"

#include <algorithm>
#include <stdexcept>

namespace aio::http {

namespace {

constexpr std::string_view kHexDigits = "0123456789ABCDEF";
// RFC 3986 sub-delims, which userinfo and fragments may hold unencoded.
constexpr std::string_view kSubDelims = "!$&'()*+,;=";
// Outside '&', '=', '+' and ';', which would split or alter a query pair once decoded.
constexpr std::string_view kQueryPartSafe = "/?:@!$'()*,";
constexpr std::string_view kFragmentSafe = "/?:@!$&'()*+,;=";

constexpr bool is_alpha(char c) noexcept { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
constexpr bool is_hex(char c) noexcept { return is_digit(c) || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f'); }
constexpr bool is_unreserved(char c) noexcept {
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}
constexpr int hex_value(char c) noexcept {
    if (is_digit(c)) return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return c - 'A' + 10;
}
constexpr char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

std::string to_lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        c = lower(c);
    return out;
}

void append_escape(std::string& out, unsigned char byte) {
    out += '%';
    out += kHexDigits[byte >> 4];
    out += kHexDigits[byte & 0xF];
}

[[noreturn]] void fail(std::string_view text, std::string_view why) {
    throw std::invalid_argument("invalid URL '" + std::string(text) + "': " + std::string(why));
}

std::optional<uint16_t> default_port(std::string_view scheme) noexcept {
    if (scheme == "http" || scheme == "ws") return 80;
    if (scheme == "https" || scheme == "wss") return 443;
    return std::nullopt;
}

// Path, query and fragment are kept as written, except for what cannot go on a request line:
// bytes >= 0x80, the ASCII characters RFC 3986 excludes everywhere, and a '%' that starts no
// escape. Encoding those (as yarl and browsers do) makes the raw form always sendable.
std::string requote(std::string_view s) {
    constexpr std::string_view kUnsafe = "\"<>\\^`{|}";
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        const auto byte = static_cast<unsigned char>(c);
        if (c == '%' && !(i + 2 < s.size() && is_hex(s[i + 1]) && is_hex(s[i + 2]))) {
            append_escape(out, byte);
        } else if (byte >= 0x80 || kUnsafe.find(c) != std::string_view::npos) {
            append_escape(out, byte);
        } else {
            out += c;
        }
    }
    return out;
}

// RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ). Text before a ':' that is not a scheme
// ("1a:b") makes the whole reference a relative path.
bool is_scheme(std::string_view s) noexcept {
    if (s.empty() || !is_alpha(s[0])) return false;
    for (char c : s)
        if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.') return false;
    return true;
}

bool is_ipv4(std::string_view s) noexcept {
    int parts = 0;
    while (true) {
        size_t n = 0;
        int value = 0;
        while (n < s.size() && is_digit(s[n]) && n < 3)
            value = value * 10 + (s[n++] - '0');
        if (n == 0 || value > 255) return false;
        ++parts;
        s.remove_prefix(n);
        if (s.empty()) return parts == 4;
        if (s[0] != '.' || parts == 4) return false;
        s.remove_prefix(1);
    }
}

// Counts the 16-bit groups of one side of "::" (an embedded IPv4 address, allowed last, counts
// two); false if a group is malformed.
bool count_ipv6_groups(std::string_view s, bool ipv4_allowed, int& groups) noexcept {
    groups = 0;
    if (s.empty()) return true;
    while (true) {
        const size_t colon = s.find(':');
        const std::string_view group = s.substr(0, colon);
        if (colon == std::string_view::npos && ipv4_allowed && group.find('.') != std::string_view::npos) {
            if (!is_ipv4(group)) return false;
            groups += 2;
            return true;
        }
        if (group.empty() || group.size() > 4) return false;
        for (char c : group)
            if (!is_hex(c)) return false;
        ++groups;
        if (colon == std::string_view::npos) return true;
        s.remove_prefix(colon + 1);
    }
}

bool is_ipv6(std::string_view s) noexcept {
    const size_t gap = s.find("::");
    int left = 0;
    int right = 0;
    if (gap == std::string_view::npos) return count_ipv6_groups(s, true, left) && left == 8;
    if (s.find("::", gap + 1) != std::string_view::npos) return false;
    return count_ipv6_groups(s.substr(0, gap), false, left) && count_ipv6_groups(s.substr(gap + 2), true, right) &&
           left + right <= 7;
}

// RFC 3986 reg-name characters, plus bytes >= 0x80 (an IDN written in UTF-8, left for the resolver).
bool is_host_char(char c) noexcept {
    return is_unreserved(c) || kSubDelims.find(c) != std::string_view::npos || c == '%' ||
           static_cast<unsigned char>(c) >= 0x80;
}

// RFC 3986 section 5.2.4.
std::string remove_dot_segments(std::string_view in) {
    std::string out;
    const auto pop_segment = [&out] {
        const size_t slash = out.rfind('/');
        out.erase(slash == std::string::npos ? 0 : slash);
    };
    while (!in.empty()) {
        if (in.starts_with("../")) {
            in.remove_prefix(3);
        } else if (in.starts_with("./")) {
            in.remove_prefix(2);
        } else if (in.starts_with("/./")) {
            in.remove_prefix(2);
        } else if (in == "/.") {
            out += '/';
            break;
        } else if (in.starts_with("/../")) {
            in.remove_prefix(3);
            pop_segment();
        } else if (in == "/..") {
            pop_segment();
            out += '/';
            break;
        } else if (in == "." || in == "..") {
            break;
        } else {
            const size_t end = in.find('/', 1);
            out += in.substr(0, end);
            in.remove_prefix(end == std::string_view::npos ? in.size() : end);
        }
    }
    return out;
}

std::string encode_query_pairs(const std::vector<std::pair<std::string, std::string>>& params) {
    std::string out;
    for (const auto& [name, value] : params) {
        if (!out.empty()) out += '&';
        out += quote(name, kQueryPartSafe);
        out += '=';
        out += quote(value, kQueryPartSafe);
    }
    return out;
}

std::string quote_plus(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        if (c == ' ')
            out += '+';
        else if (is_unreserved(c))
            out += c;
        else
            append_escape(out, static_cast<unsigned char>(c));
    }
    return out;
}

}  // namespace

URL::URL(std::string_view text) {
    for (char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte <= 0x20 || byte == 0x7F) fail(text, "contains whitespace or a control character");
    }
    std::string_view rest = text;

    if (const size_t hash = rest.find('#'); hash != std::string_view::npos) {
        has_fragment_ = true;
        raw_fragment_ = requote(rest.substr(hash + 1));
        fragment_ = unquote(raw_fragment_);
        rest = rest.substr(0, hash);
    }
    if (const size_t question = rest.find('?'); question != std::string_view::npos) {
        has_query_ = true;
        raw_query_ = requote(rest.substr(question + 1));
        rest = rest.substr(0, question);
    }
    if (const size_t colon = rest.find(':'); colon != std::string_view::npos) {
        const std::string_view candidate = rest.substr(0, colon);
        if (candidate.find('/') == std::string_view::npos && is_scheme(candidate)) {
            scheme_ = to_lower(candidate);
            rest.remove_prefix(colon + 1);
        }
    }

    if (rest.starts_with("//")) {
        has_authority_ = true;
        rest.remove_prefix(2);
        const size_t slash = rest.find('/');
        std::string_view authority = rest.substr(0, slash);
        rest.remove_prefix(authority.size());

        // The last '@' ends the userinfo: an unencoded '@' in a password is common enough.
        if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
            const std::string_view userinfo = authority.substr(0, at);
            const size_t colon = userinfo.find(':');
            user_ = unquote(userinfo.substr(0, colon));
            if (colon != std::string_view::npos) password_ = unquote(userinfo.substr(colon + 1));
            authority.remove_prefix(at + 1);
        }

        std::string_view port_text;
        bool has_port = false;
        if (authority.starts_with('[')) {
            const size_t close = authority.find(']');
            if (close == std::string_view::npos) fail(text, "unterminated IPv6 address");
            std::string_view address = authority.substr(1, close - 1);
            std::string zone;
            // RFC 6874 zone identifier: "[fe80::1%25eth0]"; kept decoded ("fe80::1%eth0") in host(),
            // which is the form getaddrinfo takes.
            if (const size_t percent = address.find('%'); percent != std::string_view::npos) {
                const std::string_view encoded_zone = address.substr(percent);
                if (!encoded_zone.starts_with("%25") || encoded_zone.size() == 3)
                    fail(text, "invalid IPv6 zone identifier");
                zone = unquote(encoded_zone.substr(3));
                for (char c : zone)
                    if (!is_unreserved(c)) fail(text, "invalid IPv6 zone identifier");
                address = address.substr(0, percent);
            }
            if (!is_ipv6(address)) fail(text, "invalid IPv6 address '" + std::string(address) + "'");
            host_ = to_lower(address);
            if (!zone.empty()) host_ += '%' + zone;
            const std::string_view after = authority.substr(close + 1);
            if (!after.empty()) {
                if (after[0] != ':') fail(text, "unexpected characters after the IPv6 address");
                has_port = true;
                port_text = after.substr(1);
            }
        } else {
            const size_t colon = authority.find(':');
            const std::string_view host = authority.substr(0, colon);
            for (char c : host)
                if (!is_host_char(c)) fail(text, std::string("invalid character '") + c + "' in the host");
            host_ = to_lower(host);
            if (colon != std::string_view::npos) {
                has_port = true;
                port_text = authority.substr(colon + 1);
            }
        }

        // An empty port ("http://h:/") is allowed by RFC 3986 and means the default one.
        if (has_port && !port_text.empty()) {
            uint32_t value = 0;
            for (char c : port_text) {
                if (!is_digit(c)) fail(text, "port '" + std::string(port_text) + "' is not a number");
                value = value * 10 + static_cast<uint32_t>(c - '0');
                if (value > 65535) fail(text, "port '" + std::string(port_text) + "' is out of range 0-65535");
            }
            port_ = static_cast<uint16_t>(value);
        }
        if (host_.empty() && (default_port(scheme_) || !user_.empty() || !password_.empty() || port_))
            fail(text, "the host is empty");
    }
    raw_path_ = requote(rest);
}

uint16_t URL::port() const noexcept {
    if (port_) return *port_;
    return default_port(scheme_).value_or(0);
}

const std::string& URL::raw_path() const noexcept {
    static const std::string kRoot = "/";
    return raw_path_.empty() && !host_.empty() ? kRoot : raw_path_;
}

std::string URL::path() const { return unquote(raw_path()); }

std::vector<std::pair<std::string, std::string>> URL::query() const { return parse_qsl(raw_query_); }

bool URL::is_default_port() const noexcept { return !port_ || port_ == default_port(scheme_); }

std::string URL::host_port() const {
    std::string out;
    if (host_.find(':') != std::string::npos) {
        // Only an IPv6 address has a ':' in its host; its zone's '%' is escaped again in brackets.
        out += '[';
        for (char c : host_)
            out += c == '%' ? std::string_view("%25") : std::string_view(&c, 1);
        out += ']';
    } else {
        out = host_;
    }
    if (!is_default_port()) out += ':' + std::to_string(*port_);
    return out;
}

std::string URL::path_qs() const {
    std::string out = raw_path().empty() ? "/" : raw_path();
    if (!raw_query_.empty()) out += '?' + raw_query_;
    return out;
}

URL URL::origin() const {
    if (!is_absolute()) throw std::invalid_argument("URL '" + human_repr() + "' has no origin: it is not absolute");
    URL out;
    out.scheme_ = scheme_;
    out.host_ = host_;
    if (!is_default_port()) out.port_ = port_;
    out.has_authority_ = true;
    return out;
}

URL URL::join(const URL& ref) const {
    URL out = ref;
    if (!ref.scheme_.empty()) {
        out.raw_path_ = remove_dot_segments(ref.raw_path_);
        return out;
    }
    out.scheme_ = scheme_;
    if (ref.has_authority_) {
        out.raw_path_ = remove_dot_segments(ref.raw_path_);
        return out;
    }
    out.has_authority_ = has_authority_;
    out.user_ = user_;
    out.password_ = password_;
    out.host_ = host_;
    out.port_ = port_;
    if (ref.raw_path_.empty()) {
        out.raw_path_ = raw_path_;
        if (!ref.has_query_) {
            out.has_query_ = has_query_;
            out.raw_query_ = raw_query_;
        }
    } else if (ref.raw_path_.starts_with('/')) {
        out.raw_path_ = remove_dot_segments(ref.raw_path_);
    } else {
        // RFC 3986 section 5.2.3: merge with the base's directory.
        std::string merged;
        if (has_authority_ && raw_path_.empty()) {
            merged = "/" + ref.raw_path_;
        } else {
            const size_t slash = raw_path_.rfind('/');
            merged = (slash == std::string::npos ? std::string() : raw_path_.substr(0, slash + 1)) + ref.raw_path_;
        }
        out.raw_path_ = remove_dot_segments(merged);
    }
    return out;
}

URL URL::with_query(const std::vector<std::pair<std::string, std::string>>& params) const {
    URL out = *this;
    out.raw_query_ = encode_query_pairs(params);
    out.has_query_ = !params.empty();
    return out;
}

URL URL::extend_query(const std::vector<std::pair<std::string, std::string>>& params) const {
    if (params.empty()) return *this;
    URL out = *this;
    if (!out.raw_query_.empty()) out.raw_query_ += '&';
    out.raw_query_ += encode_query_pairs(params);
    out.has_query_ = true;
    return out;
}

URL URL::with_fragment(std::string_view fragment) const {
    URL out = *this;
    out.fragment_ = std::string(fragment);
    out.raw_fragment_ = quote(fragment, kFragmentSafe);
    out.has_fragment_ = !fragment.empty();
    return out;
}

URL URL::with_user_password(std::string_view user, std::string_view password) const {
    if (host_.empty() && !(user.empty() && password.empty()))
        throw std::invalid_argument("cannot set credentials on URL '" + human_repr() + "': it has no host");
    URL out = *this;
    out.user_ = std::string(user);
    out.password_ = std::string(password);
    return out;
}

std::string URL::authority(bool with_userinfo) const {
    std::string out;
    if (with_userinfo && (!user_.empty() || !password_.empty())) {
        out += quote(user_, kSubDelims);
        // ':' is encoded in the password too, so that a parsed "p%3Ass" serializes back unchanged.
        if (!password_.empty()) out += ':' + quote(password_, kSubDelims);
        out += '@';
    }
    out += host_port();
    // host_port() drops a written default port; str() keeps it, as it was part of the URL.
    if (port_ && is_default_port()) out += ':' + std::to_string(*port_);
    return out;
}

std::string URL::serialize(bool with_userinfo) const {
    std::string out;
    if (!scheme_.empty()) out += scheme_ + ':';
    if (has_authority_) {
        out += "//" + authority(with_userinfo);
    } else if (raw_path_.starts_with("//")) {
        // Without this, the path's first segment would read back as an authority.
        out += "/.";
    } else if (scheme_.empty()) {
        // A first segment with a ':' would read back as a scheme.
        const std::string_view first(raw_path_.data(), std::min(raw_path_.find('/'), raw_path_.size()));
        if (first.find(':') != std::string_view::npos) out += "./";
    }
    out += raw_path_;
    if (has_query_) out += '?' + raw_query_;
    if (has_fragment_) out += '#' + raw_fragment_;
    return out;
}

std::string URL::str() const { return serialize(true); }

std::string URL::human_repr() const { return serialize(false); }

bool operator==(const URL& a, const URL& b) noexcept {
    return a.scheme_ == b.scheme_ && a.user_ == b.user_ && a.password_ == b.password_ && a.host_ == b.host_ &&
           a.port_ == b.port_ && a.raw_path() == b.raw_path() && a.has_authority_ == b.has_authority_ &&
           a.has_query_ == b.has_query_ && a.raw_query_ == b.raw_query_ && a.has_fragment_ == b.has_fragment_ &&
           a.raw_fragment_ == b.raw_fragment_;
}

std::string quote(std::string_view s, std::string_view safe) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        if (is_unreserved(c) || (static_cast<unsigned char>(c) < 0x80 && safe.find(c) != std::string_view::npos))
            out += c;
        else
            append_escape(out, static_cast<unsigned char>(c));
    }
    return out;
}

std::string unquote(std::string_view s, bool plus_as_space) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (c == '%' && i + 2 < s.size() && is_hex(s[i + 1]) && is_hex(s[i + 2])) {
            out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        } else if (c == '+' && plus_as_space) {
            out += ' ';
        } else {
            out += c;
        }
    }
    return out;
}

std::string urlencode(const std::vector<std::pair<std::string, std::string>>& pairs) {
    std::string out;
    for (const auto& [name, value] : pairs) {
        if (!out.empty()) out += '&';
        out += quote_plus(name);
        out += '=';
        out += quote_plus(value);
    }
    return out;
}

std::vector<std::pair<std::string, std::string>> parse_qsl(std::string_view s) {
    std::vector<std::pair<std::string, std::string>> out;
    while (!s.empty()) {
        const size_t amp = s.find('&');
        const std::string_view field = s.substr(0, amp);
        s.remove_prefix(amp == std::string_view::npos ? s.size() : amp + 1);
        if (field.empty()) continue;
        const size_t eq = field.find('=');
        if (eq == std::string_view::npos)
            out.emplace_back(unquote(field, true), std::string());
        else
            out.emplace_back(unquote(field.substr(0, eq), true), unquote(field.substr(eq + 1), true));
    }
    return out;
}

}  // namespace aio::http
