// The WebSocket codec (RFC 6455, RFC 7692). See ws_codec.hpp.
#include "ws_codec.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <stdexcept>

namespace aio::http::detail::ws {

namespace {

// zlib counts in uInt: larger buffers go through it in pieces of this size.
constexpr size_t zlib_piece = size_t{1} << 30;
constexpr size_t inflate_scratch = 16 * 1024;
// RFC 7692 section 7.2.2: the end of a sync flush, removed by the sender, put back by the receiver.
constexpr unsigned char deflate_tail[4] = {0x00, 0x00, 0xff, 0xff};

void fill_random(uint8_t* p, size_t n) {
    if (RAND_bytes(p, static_cast<int>(n)) != 1) throw std::runtime_error("RAND_bytes failed");
}

std::string base64(const unsigned char* p, size_t n) {
    std::string out(4 * ((n + 2) / 3) + 1, '\0');
    int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), p, static_cast<int>(n));
    out.resize(static_cast<size_t>(len));
    return out;
}

bool is_tchar(char c) noexcept {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

bool is_token(std::string_view s) noexcept { return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar); }

std::string_view trim_ows(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

class Cursor {
public:
    explicit Cursor(std::string_view s) : s_(s) {}
    bool eof() const noexcept { return i_ >= s_.size(); }
    char peek() const noexcept { return s_[i_]; }
    void skip() noexcept { ++i_; }
    void ows() noexcept {
        while (!eof() && (peek() == ' ' || peek() == '\t'))
            ++i_;
    }
    std::string token() {
        size_t start = i_;
        while (!eof() && is_tchar(peek()))
            ++i_;
        return std::string(s_.substr(start, i_ - start));
    }
    // A quoted-string (the opening quote is next), unescaped; nullopt if it never closes.
    std::optional<std::string> quoted() {
        std::string out;
        ++i_;
        while (!eof()) {
            char c = s_[i_++];
            if (c == '"') return out;
            if (c == '\\') {
                if (eof()) return std::nullopt;
                c = s_[i_++];
            }
            out.push_back(c);
        }
        return std::nullopt;
    }

private:
    std::string_view s_;
    size_t i_ = 0;
};

// RFC 7692's grammar for a window size: 8 to 15, no leading zero.
std::optional<int> window_bits(std::string_view v) noexcept {
    if (v.size() == 1 && (v[0] == '8' || v[0] == '9')) return v[0] - '0';
    if (v.size() == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5') return 10 + (v[1] - '0');
    return std::nullopt;
}

// The parameters of one permessage-deflate element, checked as both sides must: each at most
// once, with a value where one is required and none where none is allowed.
struct PmdParams {
    bool server_no_context_takeover = false;
    bool client_no_context_takeover = false;
    std::optional<int> server_max_window_bits;
    bool client_max_window_bits = false;
    std::optional<int> client_max_window_bits_value;
};

// nullopt and why, or the parameters.
std::optional<PmdParams> read_pmd_params(const Extension& e, std::string* why) {
    PmdParams p;
    unsigned seen = 0;
    auto once = [&](unsigned bit) {
        if (seen & bit) return false;
        seen |= bit;
        return true;
    };
    for (const auto& param : e.params) {
        if (param.name == "server_no_context_takeover" || param.name == "client_no_context_takeover") {
            bool server = param.name[0] == 's';
            if (!once(server ? 1u : 2u) || param.value) {
                *why = param.name + " repeated or given a value";
                return std::nullopt;
            }
            (server ? p.server_no_context_takeover : p.client_no_context_takeover) = true;
        } else if (param.name == "server_max_window_bits") {
            std::optional<int> bits = param.value ? window_bits(*param.value) : std::nullopt;
            if (!once(4u) || !bits) {
                *why = "server_max_window_bits repeated or not 8-15";
                return std::nullopt;
            }
            p.server_max_window_bits = bits;
        } else if (param.name == "client_max_window_bits") {
            std::optional<int> bits = param.value ? window_bits(*param.value) : std::nullopt;
            if (!once(8u) || (param.value && !bits)) {
                *why = "client_max_window_bits repeated or not 8-15";
                return std::nullopt;
            }
            p.client_max_window_bits = true;
            p.client_max_window_bits_value = bits;
        } else {
            *why = "unknown parameter " + param.name;
            return std::nullopt;
        }
    }
    return p;
}

void append_be(std::string& out, uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i)
        out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// UTF-8

bool Utf8Validator::feed(const char* p, size_t n) noexcept {
    if (!ok_) return false;
    const auto* s = reinterpret_cast<const unsigned char*>(p);
    size_t i = 0;
    while (i < n) {
        if (need_ == 0) {
            // Text is mostly ASCII: eight bytes at a time while no high bit is set.
            while (i + 8 <= n) {
                uint64_t w;
                std::memcpy(&w, s + i, 8);
                if (w & 0x8080808080808080ull) break;
                i += 8;
            }
            if (i == n) break;
            unsigned char c = s[i++];
            if (c < 0x80) continue;
            // The ranges of RFC 3629's grammar: the second byte's range depends on the first,
            // which is what excludes overlong forms, surrogates and code points past U+10FFFF.
            if (c < 0xc2 || c > 0xf4) return ok_ = false;
            if (c < 0xe0) {
                need_ = 1;
            } else if (c < 0xf0) {
                need_ = 2;
                lo_ = c == 0xe0 ? 0xa0 : 0x80;
                hi_ = c == 0xed ? 0x9f : 0xbf;
            } else {
                need_ = 3;
                lo_ = c == 0xf0 ? 0x90 : 0x80;
                hi_ = c == 0xf4 ? 0x8f : 0xbf;
            }
        } else {
            unsigned char c = s[i++];
            if (c < lo_ || c > hi_) return ok_ = false;
            --need_;
            lo_ = 0x80;
            hi_ = 0xbf;
        }
    }
    return true;
}

bool valid_utf8(std::string_view s) noexcept {
    Utf8Validator v;
    return v.feed(s.data(), s.size()) && v.complete();
}

// ---------------------------------------------------------------------------------------------
// The handshake

std::string accept_key(std::string_view key) {
    std::string s(key);
    s += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(s.data(), s.size(), md, &len, EVP_sha1(), nullptr) != 1) throw std::runtime_error("SHA-1 failed");
    return base64(md, len);
}

bool key_valid(std::string_view key) noexcept {
    if (key.size() != 24 || key.substr(22) != "==") return false;
    return std::all_of(key.begin(), key.begin() + 22, [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
    });
}

std::string make_key() {
    uint8_t raw[16];
    fill_random(raw, sizeof raw);
    return base64(raw, sizeof raw);
}

std::optional<std::vector<Extension>> parse_extensions(std::string_view header) {
    std::vector<Extension> out;
    Cursor c(header);
    for (;;) {
        c.ows();
        if (c.eof()) break;
        if (c.peek() == ',') {  // an empty list element, which HTTP's list rule allows
            c.skip();
            continue;
        }
        Extension e;
        e.name = c.token();
        if (e.name.empty()) return std::nullopt;
        c.ows();
        while (!c.eof() && c.peek() == ';') {
            c.skip();
            c.ows();
            ExtensionParam p;
            p.name = c.token();
            if (p.name.empty()) return std::nullopt;
            c.ows();
            if (!c.eof() && c.peek() == '=') {
                c.skip();
                c.ows();
                if (!c.eof() && c.peek() == '"') {
                    p.value = c.quoted();
                    // RFC 6455 section 9.1: a quoted value must still be a token once unquoted.
                    if (!p.value || !is_token(*p.value)) return std::nullopt;
                } else {
                    p.value = c.token();
                    if (p.value->empty()) return std::nullopt;
                }
                c.ows();
            }
            e.params.push_back(std::move(p));
        }
        out.push_back(std::move(e));
        if (c.eof()) break;
        if (c.peek() != ',') return std::nullopt;
        c.skip();
    }
    return out;
}

std::optional<std::pair<DeflateParams, std::string>> negotiate_deflate(std::string_view offer_header,
                                                                       const DeflateConfig& config) {
    auto offers = parse_extensions(offer_header);
    if (!offers) return std::nullopt;
    for (const auto& e : *offers) {
        if (e.name != "permessage-deflate") continue;
        std::string why;
        auto p = read_pmd_params(e, &why);
        if (!p) continue;  // RFC 7692 section 5: decline this offer, try the next one
        DeflateParams d;
        d.server_no_context_takeover = p->server_no_context_takeover || config.server_no_context_takeover;
        d.client_no_context_takeover = p->client_no_context_takeover || config.client_no_context_takeover;
        d.server_max_window_bits = std::min(p->server_max_window_bits.value_or(15), config.server_max_window_bits);
        // A client that did not offer client_max_window_bits may not be asked for a smaller window.
        if (p->client_max_window_bits)
            d.client_max_window_bits =
                std::min(p->client_max_window_bits_value.value_or(15), config.client_max_window_bits);
        std::string answer = "permessage-deflate";
        if (d.server_no_context_takeover) answer += "; server_no_context_takeover";
        if (d.client_no_context_takeover) answer += "; client_no_context_takeover";
        // An offered server_max_window_bits must be answered (section 7.1.2.1).
        // Appended piece by piece: g++ 12 -O3 reports a bogus -Wrestrict on "literal" + std::to_string().
        if (p->server_max_window_bits || d.server_max_window_bits < 15) {
            answer += "; server_max_window_bits=";
            answer += std::to_string(d.server_max_window_bits);
        }
        if (p->client_max_window_bits && d.client_max_window_bits < 15) {
            answer += "; client_max_window_bits=";
            answer += std::to_string(d.client_max_window_bits);
        }
        return std::pair{d, std::move(answer)};
    }
    return std::nullopt;
}

std::string deflate_offer(const DeflateConfig& config) {
    std::string offer = "permessage-deflate";
    // Without a value: the server may choose the window this client compresses with.
    offer += "; client_max_window_bits";
    if (config.client_max_window_bits < 15) {
        offer += '=';
        offer += std::to_string(config.client_max_window_bits);
    }
    if (config.server_max_window_bits < 15) {
        offer += "; server_max_window_bits=";
        offer += std::to_string(config.server_max_window_bits);
    }
    if (config.server_no_context_takeover) offer += "; server_no_context_takeover";
    if (config.client_no_context_takeover) offer += "; client_no_context_takeover";
    return offer;
}

std::optional<DeflateParams> accept_deflate_response(std::string_view response_header, const DeflateConfig& config) {
    auto list = parse_extensions(response_header);
    if (!list) throw std::invalid_argument("malformed Sec-WebSocket-Extensions in the response");
    if (list->empty()) return std::nullopt;
    if (list->size() != 1 || (*list)[0].name != "permessage-deflate")
        throw std::invalid_argument("the server answered with an extension that was not offered");
    std::string why;
    auto p = read_pmd_params((*list)[0], &why);
    if (!p) throw std::invalid_argument("bad permessage-deflate response: " + why);
    if (config.server_no_context_takeover && !p->server_no_context_takeover)
        throw std::invalid_argument("the server did not accept server_no_context_takeover");
    if (config.server_max_window_bits < 15 &&
        (!p->server_max_window_bits || *p->server_max_window_bits > config.server_max_window_bits))
        throw std::invalid_argument("the server did not accept server_max_window_bits");
    if (p->client_max_window_bits &&
        (!p->client_max_window_bits_value || *p->client_max_window_bits_value > config.client_max_window_bits))
        throw std::invalid_argument("client_max_window_bits without a value, or larger than offered");
    DeflateParams d;
    d.server_no_context_takeover = p->server_no_context_takeover;
    d.client_no_context_takeover = p->client_no_context_takeover || config.client_no_context_takeover;
    d.server_max_window_bits = p->server_max_window_bits.value_or(15);
    d.client_max_window_bits = std::min(p->client_max_window_bits_value.value_or(15), config.client_max_window_bits);
    return d;
}

std::optional<std::string> choose_subprotocol(std::string_view offer_header,
                                              const std::vector<std::string>& supported) {
    while (!offer_header.empty()) {
        size_t comma = offer_header.find(',');
        std::string_view item = trim_ows(offer_header.substr(0, comma));
        offer_header = comma == std::string_view::npos ? std::string_view{} : offer_header.substr(comma + 1);
        if (item.empty()) continue;
        for (const auto& s : supported)
            if (s == item) return s;
    }
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Compression

DeflateSide outbound_side(const DeflateParams& p, Role role) noexcept {
    return role == Role::server ? DeflateSide(p.server_max_window_bits, p.server_no_context_takeover)
                                : DeflateSide(p.client_max_window_bits, p.client_no_context_takeover);
}

DeflateSide inbound_side(const DeflateParams& p, Role role) noexcept {
    return outbound_side(p, role == Role::server ? Role::client : Role::server);
}

Inflater::Inflater(DeflateSide side) : side_(side) {}

Inflater::~Inflater() {
    if (zs_) inflateEnd(zs_.get());
}

Inflater::Result Inflater::run(const char* in, size_t n, std::string& out, size_t limit) {
    if (!zs_) {
        auto zs = std::make_unique<z_stream>();
        std::memset(zs.get(), 0, sizeof(z_stream));
        // A window larger than agreed decodes everything the agreed one does; 9 is the least
        // zlib's own deflate produces, and lenience there costs 256 bytes.
        if (inflateInit2(zs.get(), -std::max(side_.window_bits, 9)) != Z_OK) return Result::no_memory;
        zs_ = std::move(zs);
        scratch_ = std::make_unique<char[]>(inflate_scratch);
    }
    z_stream& zs = *zs_;
    while (n > 0) {
        size_t piece = std::min(n, zlib_piece);
        zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in));
        zs.avail_in = static_cast<uInt>(piece);
        for (;;) {
            zs.next_out = reinterpret_cast<Bytef*>(scratch_.get());
            zs.avail_out = static_cast<uInt>(inflate_scratch);
            int r = inflate(&zs, Z_SYNC_FLUSH);
            size_t produced = inflate_scratch - zs.avail_out;
            // Checked before appending: a zip bomb costs at most the limit plus one scratch
            // buffer of inflating, never its inflated size. What fits is kept, so that the
            // reader can tell bad text before the limit from a message that is only too big,
            // however the bytes were split (fuzz_ws_frame_reader).
            if (limit && produced > limit - out.size()) {
                out.append(scratch_.get(), limit - out.size());
                return Result::too_big;
            }
            out.append(scratch_.get(), produced);
            if (r == Z_STREAM_END) {
                // The peer ended its deflate stream (BFINAL): what else this message carries,
                // at least our own tail, is not part of it.
                stream_end_ = true;
                return Result::ok;
            }
            if (r == Z_MEM_ERROR) return Result::no_memory;
            if (r != Z_OK && r != Z_BUF_ERROR) return Result::bad_data;
            // Output room left over means inflate took all the input it could.
            if (zs.avail_out != 0) break;
        }
        in += piece;
        n -= piece;
    }
    return Result::ok;
}

Inflater::Result Inflater::feed(const char* in, size_t n, std::string& out, size_t limit) {
    if (stream_end_ || n == 0) return Result::ok;
    fed_ = true;
    return run(in, n, out, limit);
}

Inflater::Result Inflater::finish(std::string& out, size_t limit) {
    // A compressed message without a byte of payload: the tail alone is not a whole block, so
    // inflating it would leave zlib inside one. It can only mean an empty message.
    if (!fed_) return Result::ok;
    fed_ = false;
    Result r = Result::ok;
    if (!stream_end_) {
        r = run(reinterpret_cast<const char*>(deflate_tail), sizeof deflate_tail, out, limit);
        if (r != Result::ok) return r;
        // With the tail, the message must end on a block boundary (zlib's data_type 128): one
        // that stops inside a block would make the next message's bytes continue it.
        if (!stream_end_ && !(zs_->data_type & 128)) return Result::bad_data;
    }
    if (side_.no_context_takeover) {
        inflateReset(zs_.get());
    } else if (stream_end_) {
        // zlib will not go on after a final block, but the peer's next message may still refer
        // to this one's bytes: start a new stream that keeps the window.
        std::string window(32768, '\0');
        uInt len = 0;
        inflateGetDictionary(zs_.get(), reinterpret_cast<Bytef*>(window.data()), &len);
        inflateReset(zs_.get());
        if (len) inflateSetDictionary(zs_.get(), reinterpret_cast<const Bytef*>(window.data()), len);
    }
    stream_end_ = false;
    return Result::ok;
}

Deflater::Deflater(DeflateSide side) : side_(side) {}

Deflater::~Deflater() {
    if (zs_) deflateEnd(zs_.get());
}

void Deflater::compress(std::string_view in, std::string& out) {
    if (!zs_) {
        auto zs = std::make_unique<z_stream>();
        std::memset(zs.get(), 0, sizeof(z_stream));
        // memLevel 5, not zlib's 8, as python3-websockets chooses: its hash table is 8 KiB, not
        // 64 KiB, and zlib clears all of it at once, so every socket that ever compressed a
        // message held 64 KiB more (docs/performance.md, memory per idle WebSocket) for a ratio
        // that small messages barely notice.
        constexpr int kMemLevel = 5;
        if (deflateInit2(zs.get(), Z_DEFAULT_COMPRESSION, Z_DEFLATED, -side_.window_bits, kMemLevel,
                         Z_DEFAULT_STRATEGY) != Z_OK)
            throw std::bad_alloc();
        zs_ = std::move(zs);
    }
    // zlib emits nothing for an empty sync flush right after another; RFC 7692 section 7.2.3.6
    // sends an empty stored block's first byte, which the receiver's tail completes.
    if (in.empty()) {
        out.push_back('\0');
        return;
    }
    z_stream& zs = *zs_;
    const size_t start = out.size();
    size_t room = std::min<size_t>(in.size() + 64, 1 << 20);
    do {
        size_t piece = std::min(in.size(), zlib_piece);
        bool last = piece == in.size();
        zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
        zs.avail_in = static_cast<uInt>(piece);
        for (;;) {
            size_t have = out.size();
            out.resize(have + room);
            zs.next_out = reinterpret_cast<Bytef*>(out.data() + have);
            zs.avail_out = static_cast<uInt>(room);
            deflate(&zs, last ? Z_SYNC_FLUSH : Z_NO_FLUSH);
            out.resize(have + room - zs.avail_out);
            // Room left over: all the input is taken and, with a flush, the flush is complete.
            if (zs.avail_out != 0) break;
        }
        in.remove_prefix(piece);
        if (last) break;
    } while (true);
    // A sync flush ends with an empty stored block, 00 00 ff ff, which RFC 7692 leaves out.
    if (out.size() - start >= 4 && std::memcmp(out.data() + out.size() - 4, deflate_tail, 4) == 0)
        out.resize(out.size() - 4);
    if (side_.no_context_takeover) deflateReset(&zs);
}

// ---------------------------------------------------------------------------------------------
// Frames

void apply_mask(char* p, size_t n, const uint8_t key[4], size_t offset) noexcept {
    uint8_t k[8];
    for (size_t i = 0; i < 8; ++i)
        k[i] = key[(offset + i) & 3];
    uint64_t k64;
    std::memcpy(&k64, k, 8);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        std::memcpy(&w, p + i, 8);
        w ^= k64;
        std::memcpy(p + i, &w, 8);
    }
    for (; i < n; ++i)
        p[i] = static_cast<char>(p[i] ^ k[i & 7]);
}

FrameReader::FrameReader(Role role, ReaderOptions options) : role_(role), options_(std::move(options)) {
    if (options_.deflate) inflater_ = std::make_unique<Inflater>(*options_.deflate);
}

FrameReader::~FrameReader() = default;

void FrameReader::fail(uint16_t code, std::string reason) {
    state_ = State::failed;
    error_.code = code;
    error_.reason = std::move(reason);
    // What was put together is of no use now; free it.
    msg_ = std::string();
    control_ = std::string();
}

size_t FrameReader::feed(std::string_view data) {
    if (state_ == State::failed || state_ == State::closed) return data.size();
    size_t pos = 0;
    while (state_ == State::reading) {
        if (!in_payload_) {
            if (pos == data.size()) break;
            size_t take = std::min<size_t>(hdr_need_ - hdr_have_, data.size() - pos);
            std::memcpy(hdr_ + hdr_have_, data.data() + pos, take);
            pos += take;
            hdr_have_ = static_cast<uint8_t>(hdr_have_ + take);
            if (hdr_have_ < hdr_need_) break;
            if (!on_header()) break;
            continue;
        }
        size_t take = static_cast<size_t>(std::min<uint64_t>(payload_len_ - payload_done_, data.size() - pos));
        if (take) {
            on_payload(data.data() + pos, take);
            pos += take;
            payload_done_ += take;
            if (state_ != State::reading) break;
        }
        if (payload_done_ < payload_len_) break;
        on_frame_end();
    }
    return pos;
}

// Called with the first two bytes of a frame, then (if it has any) with the rest of its
// header. Whatever can be rejected from two bytes is, before another byte is read.
bool FrameReader::on_header() {
    const uint8_t b0 = hdr_[0], b1 = hdr_[1];
    const uint8_t len7 = b1 & 0x7f;
    const bool rsv1 = b0 & 0x40;
    if (hdr_need_ == 2) {
        fin_ = b0 & 0x80;
        opcode_ = b0 & 0x0f;
        masked_ = b1 & 0x80;
        if (b0 & 0x30) return fail(1002, "reserved bits set"), false;
        if (opcode_ & 0x8) {
            if (opcode_ != op_close && opcode_ != op_ping && opcode_ != op_pong)
                return fail(1002, "unknown opcode"), false;
            if (!fin_) return fail(1002, "fragmented control frame"), false;
            if (len7 > max_control_payload) return fail(1002, "control frame over 125 bytes"), false;
            if (rsv1) return fail(1002, "RSV1 set on a control frame"), false;
        } else if (opcode_ == op_continuation) {
            if (!in_message_) return fail(1002, "continuation frame without a message"), false;
            if (rsv1) return fail(1002, "RSV1 set on a continuation frame"), false;
        } else if (opcode_ == op_text || opcode_ == op_binary) {
            if (in_message_) return fail(1002, "new message before the last one ended"), false;
            if (rsv1 && !inflater_) return fail(1002, "RSV1 set without permessage-deflate"), false;
        } else {
            return fail(1002, "unknown opcode"), false;
        }
        if (role_ == Role::server && !masked_) return fail(1002, "unmasked frame from a client"), false;
        if (role_ == Role::client && masked_) return fail(1002, "masked frame from a server"), false;
        uint8_t more = static_cast<uint8_t>((len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (masked_ ? 4 : 0));
        if (more) {
            hdr_need_ = static_cast<uint8_t>(2 + more);
            return true;
        }
    }
    size_t i = 2;
    uint64_t len = len7;
    if (len7 == 126) {
        len = (uint64_t{hdr_[2]} << 8) | hdr_[3];
        i = 4;
        if (len < 126) return fail(1002, "length not in its shortest form"), false;
    } else if (len7 == 127) {
        len = 0;
        for (int k = 0; k < 8; ++k)
            len = (len << 8) | hdr_[2 + k];
        i = 10;
        if (len >> 63) return fail(1002, "64-bit length with the high bit set"), false;
        if (len <= 0xffff) return fail(1002, "length not in its shortest form"), false;
    }
    if (masked_) std::memcpy(mask_, hdr_ + i, 4);
    hdr_have_ = 0;
    hdr_need_ = 2;
    payload_len_ = len;
    payload_done_ = 0;
    if (opcode_ & 0x8) {
        control_.clear();
    } else {
        if (opcode_ != op_continuation) {
            in_message_ = true;
            msg_opcode_ = opcode_;
            msg_compressed_ = rsv1;
            msg_.clear();
            utf8_.reset();
        }
        // Known from the header, before a byte of the payload is kept. A compressed message's
        // size is only known as it inflates: Inflater checks that one.
        const size_t max = options_.max_msg_size;
        if (!msg_compressed_ && max && len > max - msg_.size()) return fail(1009, "message too big"), false;
    }
    in_payload_ = true;
    return true;
}

// The first error in the message's own bytes wins: text that went bad before the limit is 1007,
// one that was only too big 1009, whichever piece of input the limit was crossed in.
void FrameReader::fail_too_big(size_t at) {
    if (msg_opcode_ == op_text && !utf8_.feed(msg_.data() + at, msg_.size() - at))
        return fail(1007, "invalid UTF-8 in a text message");
    fail(1009, "message too big");
}

void FrameReader::on_payload(const char* p, size_t n) {
    if (opcode_ & 0x8) {
        size_t at = control_.size();
        control_.append(p, n);
        if (masked_) apply_mask(control_.data() + at, n, mask_, static_cast<size_t>(payload_done_));
        return;
    }
    const size_t at = msg_.size();
    const size_t max = options_.max_msg_size;
    if (msg_compressed_) {
        auto inflate_piece = [&](const char* q, size_t m) {
            switch (inflater_->feed(q, m, msg_, max)) {
                case Inflater::Result::ok:
                    return true;
                case Inflater::Result::too_big:
                    fail_too_big(at);
                    return false;
                case Inflater::Result::bad_data:
                    fail(1007, "invalid compressed data");
                    return false;
                case Inflater::Result::no_memory:
                    fail(1011, "out of memory");
                    return false;
            }
            return false;
        };
        if (!masked_) {
            if (!inflate_piece(p, n)) return;
        } else {
            // Unmasked through a small buffer on the stack: nothing held between calls.
            char buf[4096];
            size_t done = 0;
            while (done < n) {
                size_t m = std::min(n - done, sizeof buf);
                std::memcpy(buf, p + done, m);
                apply_mask(buf, m, mask_, static_cast<size_t>(payload_done_ + done));
                if (!inflate_piece(buf, m)) return;
                done += m;
            }
        }
    } else {
        msg_.append(p, n);
        if (masked_) apply_mask(msg_.data() + at, n, mask_, static_cast<size_t>(payload_done_));
    }
    // Checked as the bytes arrive: bad text fails at its first bad byte, not at the message's end.
    if (msg_opcode_ == op_text && !utf8_.feed(msg_.data() + at, msg_.size() - at))
        fail(1007, "invalid UTF-8 in a text message");
}

void FrameReader::on_frame_end() {
    in_payload_ = false;
    if (opcode_ & 0x8) {
        if (opcode_ == op_close) {
            uint16_t code = 1005;
            std::string reason;
            if (control_.size() == 1) return fail(1002, "close frame with a 1-byte payload");
            if (control_.size() >= 2) {
                code =
                    static_cast<uint16_t>((static_cast<uint8_t>(control_[0]) << 8) | static_cast<uint8_t>(control_[1]));
                if (!ws_close_code_allowed(code)) return fail(1002, "invalid close code");
                reason = control_.substr(2);
                if (!valid_utf8(reason)) return fail(1007, "invalid UTF-8 in a close reason");
            }
            ready_ = WSMessage(WSMsgType::CLOSE, {}, code, std::move(reason));
        } else {
            ready_ = WSMessage(opcode_ == op_ping ? WSMsgType::PING : WSMsgType::PONG, control_);
        }
        state_ = State::message;
        return;
    }
    if (!fin_) return;
    if (msg_compressed_) {
        const size_t at = msg_.size();
        switch (inflater_->finish(msg_, options_.max_msg_size)) {
            case Inflater::Result::ok:
                break;
            case Inflater::Result::too_big:
                return fail_too_big(at);
            case Inflater::Result::bad_data:
                return fail(1007, "invalid compressed data");
            case Inflater::Result::no_memory:
                return fail(1011, "out of memory");
        }
        if (msg_opcode_ == op_text && !utf8_.feed(msg_.data() + at, msg_.size() - at))
            return fail(1007, "invalid UTF-8 in a text message");
    }
    if (msg_opcode_ == op_text && !utf8_.complete()) return fail(1007, "text message ends inside a UTF-8 sequence");
    ready_ = WSMessage(msg_opcode_ == op_text ? WSMsgType::TEXT : WSMsgType::BINARY, std::move(msg_));
    msg_ = std::string();
    in_message_ = false;
    state_ = State::message;
}

WSMessage FrameReader::take() {
    if (state_ != State::message) throw std::logic_error("FrameReader::take without a message");
    state_ = ready_.type == WSMsgType::CLOSE ? State::closed : State::reading;
    return std::move(ready_);
}

FrameWriter::FrameWriter(Role role, WriterOptions options) : role_(role), options_(std::move(options)) {
    if (options_.deflate) deflater_ = std::make_unique<Deflater>(*options_.deflate);
}

FrameWriter::~FrameWriter() = default;

void FrameWriter::next_key(uint8_t key[4]) {
    if (options_.mask_key) return options_.mask_key(key);
    // RAND_bytes a few keys at a time: one call per frame would cost more than masking.
    if (random_left_ < 4) {
        fill_random(random_, sizeof random_);
        random_left_ = sizeof random_;
    }
    std::memcpy(key, random_ + sizeof random_ - random_left_, 4);
    random_left_ -= 4;
}

void FrameWriter::head(std::string& out, uint8_t opcode, bool fin, bool rsv1, size_t n, const uint8_t* key) {
    out.push_back(static_cast<char>((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (opcode & 0x0f)));
    const uint8_t m = key ? 0x80 : 0;
    if (n < 126) {
        out.push_back(static_cast<char>(m | n));
    } else if (n <= 0xffff) {
        out.push_back(static_cast<char>(m | 126));
        append_be(out, n, 2);
    } else {
        out.push_back(static_cast<char>(m | 127));
        append_be(out, n, 8);
    }
    if (key) out.append(reinterpret_cast<const char*>(key), 4);
}

void FrameWriter::frame(std::string& out, uint8_t opcode, bool fin, bool rsv1, std::string_view payload) {
    const size_t n = payload.size();
    const bool mask = role_ == Role::client;
    uint8_t key[4];
    if (mask) next_key(key);
    head(out, opcode, fin, rsv1, n, mask ? key : nullptr);
    const size_t at = out.size();
    out.append(payload);
    if (mask) apply_mask(out.data() + at, n, key, 0);
}

void FrameWriter::message(std::string& out, WSMsgType type, std::string_view payload, bool compress) {
    std::string_view rest = message_apart(out, type, payload, compress);
    out.append(rest);
}

std::string_view FrameWriter::message_apart(std::string& out, WSMsgType type, std::string_view payload,
                                            bool compress) {
    if (type != WSMsgType::TEXT && type != WSMsgType::BINARY)
        throw std::invalid_argument("a WebSocket message is TEXT or BINARY");
    if (type == WSMsgType::TEXT && !valid_utf8(payload)) throw std::invalid_argument("WebSocket text is not UTF-8");
    const uint8_t opcode = type == WSMsgType::TEXT ? op_text : op_binary;
    std::string_view body = payload;
    const bool rsv1 = compress && deflater_ && deflater_->usable();
    if (rsv1) {
        compressed_.clear();
        deflater_->compress(payload, compressed_);
        body = compressed_;
    }
    const size_t frag = options_.fragment_size;
    if (frag == 0 || body.size() <= frag) {
        if (!rsv1 && role_ == Role::server) {
            head(out, opcode, true, false, body.size(), nullptr);
            return body;
        }
        frame(out, opcode, true, rsv1, body);
    } else {
        for (size_t off = 0; off < body.size(); off += frag) {
            size_t n = std::min(frag, body.size() - off);
            frame(out, off == 0 ? opcode : op_continuation, off + n == body.size(), off == 0 && rsv1,
                  body.substr(off, n));
        }
    }
    // An idle connection should not hold on to the largest message it ever compressed.
    if (compressed_.capacity() > 64 * 1024) compressed_ = std::string();
    return {};
}

void FrameWriter::ping(std::string& out, std::string_view payload) {
    if (payload.size() > max_control_payload) throw std::invalid_argument("a ping carries at most 125 bytes");
    frame(out, op_ping, true, false, payload);
}

void FrameWriter::pong(std::string& out, std::string_view payload) {
    if (payload.size() > max_control_payload) throw std::invalid_argument("a pong carries at most 125 bytes");
    frame(out, op_pong, true, false, payload);
}

void FrameWriter::close(std::string& out, uint16_t code, std::string_view reason) {
    if (code == 0) {
        if (!reason.empty()) throw std::invalid_argument("a close reason needs a close code");
        frame(out, op_close, true, false, {});
        return;
    }
    if (!ws_close_code_allowed(code))
        throw std::invalid_argument("close code " + std::to_string(code) + " may not be sent");
    if (reason.size() > max_control_payload - 2) throw std::invalid_argument("a close reason is at most 123 bytes");
    if (!valid_utf8(reason)) throw std::invalid_argument("a close reason must be UTF-8");
    std::string payload;
    append_be(payload, code, 2);
    payload += reason;
    frame(out, op_close, true, false, payload);
}

}  // namespace aio::http::detail::ws
