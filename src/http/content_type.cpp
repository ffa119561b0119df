#include "content_type.hpp"

#include "aio/http/headers.hpp"

namespace aio::http::detail {

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    return out;
}

std::string ContentType::param(std::string_view name) const {
    for (const auto& [k, v] : params)
        if (k == name) return v;
    return {};
}

ContentType parse_content_type(std::string_view header) {
    ContentType ct;
    size_t semi = header.find(';');
    ct.media_type = lower(trim(header.substr(0, semi)));
    while (semi != std::string_view::npos) {
        std::string_view rest = header.substr(semi + 1);
        std::string_view item;
        // A quoted value may hold ';'.
        size_t eq = rest.find('=');
        size_t next = rest.find(';');
        if (eq != std::string_view::npos && (next == std::string_view::npos || eq < next)) {
            std::string_view after = trim(rest.substr(eq + 1));
            if (!after.empty() && after.front() == '"') {
                size_t offset = static_cast<size_t>(after.data() - rest.data());
                size_t close = rest.find('"', offset + 1);
                while (close != std::string_view::npos && rest[close - 1] == '\\') close = rest.find('"', close + 1);
                next = close == std::string_view::npos ? std::string_view::npos : rest.find(';', close);
            }
        }
        item = rest.substr(0, next);
        semi = next == std::string_view::npos ? std::string_view::npos : semi + 1 + next;
        size_t e = item.find('=');
        if (e == std::string_view::npos) continue;
        std::string name = lower(trim(item.substr(0, e)));
        std::string_view value = trim(item.substr(e + 1));
        std::string v;
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
            value = value.substr(1, value.size() - 2);
            for (size_t i = 0; i < value.size(); ++i) {
                if (value[i] == '\\' && i + 1 < value.size()) ++i;
                v += value[i];
            }
        } else {
            v = std::string(value);
        }
        if (!name.empty()) ct.params.emplace_back(std::move(name), std::move(v));
    }
    return ct;
}

std::string to_utf8(std::string body, std::string_view charset) {
    static constexpr std::string_view kLatin1[] = {"iso-8859-1", "latin-1", "latin1",  "l1",
                                                   "iso8859-1",  "iso_8859-1", "cp819", "ibm819"};
    bool latin1 = false;
    for (std::string_view name : kLatin1) latin1 = latin1 || iequals(charset, name);
    if (!latin1) return body;
    std::string out;
    out.reserve(body.size() + body.size() / 8);
    for (unsigned char c : body) {
        if (c < 0x80) {
            out += static_cast<char>(c);
        } else {
            out += static_cast<char>(0xC0 | (c >> 6));
            out += static_cast<char>(0x80 | (c & 0x3F));
        }
    }
    return out;
}

}  // namespace aio::http::detail
