// Request bodies (forms, multipart), Basic credentials, and the decoding of compressed responses.
#include <random>

#include "client_internal.hpp"

namespace aio::http {

namespace detail {

std::string base64_encode(std::string_view in) {
    static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        uint32_t v = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) | uint8_t(in[i + 2]);
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += kAlphabet[(v >> 6) & 63];
        out += kAlphabet[v & 63];
    }
    if (size_t rest = in.size() - i) {
        uint32_t v = uint32_t(uint8_t(in[i])) << 16;
        if (rest == 2) v |= uint32_t(uint8_t(in[i + 1])) << 8;
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

std::string make_boundary() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    static constexpr char kHex[] = "0123456789abcdef";
    std::string b;
    b.reserve(32);
    uint64_t a = rng(), c = rng();
    for (int i = 0; i < 16; ++i)
        b += kHex[(a >> (i * 4)) & 15];
    for (int i = 0; i < 16; ++i)
        b += kHex[(c >> (i * 4)) & 15];
    return b;
}

Inflater::Inflater(bool gzip) : gzip_(gzip) {}

Inflater::~Inflater() {
    if (started_) inflateEnd(&zs_);
}

void Inflater::start(bool raw) {
    // gzip: 16 + MAX_WBITS reads the gzip wrapper; raw deflate: negative window bits.
    int bits = gzip_ ? 16 + MAX_WBITS : (raw ? -MAX_WBITS : MAX_WBITS);
    if (inflateInit2(&zs_, bits) != Z_OK) throw ClientPayloadError("cannot initialise zlib");
    started_ = true;
}

size_t Inflater::step(std::string_view& in, char* buf, size_t cap) {
    zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs_.avail_in = static_cast<uInt>(in.size());
    zs_.next_out = reinterpret_cast<Bytef*>(buf);
    zs_.avail_out = static_cast<uInt>(cap);
    int rc = inflate(&zs_, Z_NO_FLUSH);
    size_t used = in.size() - zs_.avail_in;
    in.remove_prefix(used);
    size_t produced = cap - zs_.avail_out;
    if (rc == Z_STREAM_END) {
        done_ = true;
    } else if (rc == Z_BUF_ERROR) {
        // No progress possible: more input is needed (or no room, which cannot be with an empty buffer).
    } else if (rc != Z_OK) {
        std::string why = zs_.msg ? zs_.msg : "corrupt data";
        throw ClientPayloadError(std::string("Can not decode content-encoding: ") + (gzip_ ? "gzip" : "deflate") +
                                 " (" + why + ")");
    }
    if (!produced && !used && !done_) in = {};  // stalled: wait for more input
    return produced;
}

namespace {
/// A quoted-string parameter of Content-Disposition: quotes and line breaks percent-encoded, as
/// browsers do (a raw CR/LF would end the header).
std::string disposition_param(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '"')
            out += "%22";
        else if (c == '\r')
            out += "%0D";
        else if (c == '\n')
            out += "%0A";
        else
            out += c;
    }
    return out;
}
}  // namespace

}  // namespace detail

std::string BasicAuth::encode() const { return "Basic " + detail::base64_encode(login + ':' + password); }

FormData& FormData::add_field(std::string name, std::string value, std::string filename, std::string content_type) {
    fields_.push_back(Field{std::move(name), std::move(value), std::move(filename), std::move(content_type)});
    return *this;
}

std::pair<std::string, std::string> FormData::encode(const std::string& boundary) const {
    std::string body;
    for (const Field& f : fields_) {
        body += "--" + boundary + "\r\n";
        body += "Content-Disposition: form-data; name=\"" + detail::disposition_param(f.name) + '"';
        if (!f.filename.empty()) body += "; filename=\"" + detail::disposition_param(f.filename) + '"';
        body += "\r\n";
        std::string type = f.content_type;
        if (type.empty() && !f.filename.empty()) type = "application/octet-stream";
        if (!type.empty()) body += "Content-Type: " + type + "\r\n";
        body += "\r\n";
        body += f.value;
        body += "\r\n";
    }
    body += "--" + boundary + "--\r\n";
    return {std::move(body), "multipart/form-data; boundary=" + boundary};
}

}  // namespace aio::http
