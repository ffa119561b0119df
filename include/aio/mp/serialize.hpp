// Sending values between processes (Python: pickle, as multiprocessing uses it).
//
// What can be sent is decided at compile time: aio::mp::Sendable<T> holds for arithmetic types,
// enums, std::string, the standard containers, optional, pair, tuple, variant, trivially copyable
// structs, and every type with a user Codec. Handing anything else to a Queue, a Pipe or a Pool is
// a compile error that names the type and says how to fix it, not a PicklingError at run time.
//
// The format is for processes on one machine built from one program: native byte order and
// sizes, no versioning. A malformed message throws aio::mp::SerializationError; it never reads
// past its buffer.
//
// A user type is made sendable by specialising aio::mp::Codec:
//
//     template <> struct aio::mp::Codec<Point> {
//         static void encode(aio::mp::Writer& w, const Point& p) { w.put(p.name); w.put(p.x); }
//         static Point decode(aio::mp::Reader& r) { auto n = r.get<std::string>(); return {n, r.get<double>()}; }
//     };
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "aio/mp/errors.hpp"

namespace aio::mp {

class Writer;
class Reader;

/// The customisation point: specialise Codec<T> with `static void encode(Writer&, const T&)` and
/// `static T decode(Reader&)` to make T sendable. The built-in codecs are partial
/// specialisations; an explicit specialisation of yours takes precedence over them.
template <class T, class Enable = void>
struct Codec;

/// True when T can travel between processes (has a Codec).
template <class T>
concept Sendable = requires(Writer& w, Reader& r, const T& v) {
    Codec<T>::encode(w, v);
    { Codec<T>::decode(r) } -> std::same_as<T>;
};

/// Appends encoded values to a byte buffer.
class Writer {
public:
    Writer() = default;
    explicit Writer(std::string buffer) noexcept : buf_(std::move(buffer)) {}

    void write(const void* p, size_t n) { buf_.append(static_cast<const char*>(p), n); }
    /// Encodes `v` with its Codec.
    template <class T>
    void put(const T& v) {
        static_assert(Sendable<T>,
                      "aio::mp: this type cannot be sent to another process. Sendable are arithmetic types, enums, "
                      "std::string, standard containers, optional, pair, tuple, variant and trivially copyable structs "
                      "(no pointers, no views); for anything else specialise aio::mp::Codec<T> (see aio/mp/serialize.hpp)");
        Codec<T>::encode(*this, v);
    }
    void put_size(size_t n) {
        const auto v = static_cast<uint64_t>(n);
        write(&v, sizeof v);
    }

    [[nodiscard]] const std::string& buffer() const noexcept { return buf_; }
    [[nodiscard]] std::string& buffer() noexcept { return buf_; }
    [[nodiscard]] std::string take() noexcept { return std::move(buf_); }
    [[nodiscard]] size_t size() const noexcept { return buf_.size(); }

private:
    std::string buf_;
};

/// Reads encoded values from a byte range it does not own. Every read is bounds-checked.
class Reader {
public:
    Reader(const char* data, size_t size) noexcept : p_(data), end_(data + size) {}
    explicit Reader(std::string_view data) noexcept : Reader(data.data(), data.size()) {}

    void read(void* out, size_t n) {
        const char* p = take(n);
        if (n) std::memcpy(out, p, n);  // never memcpy with a null `out` (an empty vector's data())
    }
    /// The next n bytes, in place; throws SerializationError if fewer remain.
    const char* take(size_t n) {
        if (n > remaining()) throw_truncated(n);
        const char* p = p_;
        p_ += n;
        return p;
    }
    /// Decodes a T with its Codec.
    template <class T>
    T get() {
        static_assert(Sendable<T>, "aio::mp: this type cannot be received from another process (see aio/mp/serialize.hpp)");
        return Codec<T>::decode(*this);
    }
    /// A count written by put_size(), checked to be possible: each element takes at least
    /// `min_element_bytes`, so a corrupt count cannot make the reader reserve gigabytes. With 0
    /// (elements whose encoding may be empty), a count beyond the bytes left is still capped at
    /// kMaxEmptyElements, so that a corrupt one fails at once instead of looping for hours.
    size_t get_size(size_t min_element_bytes = 1) {
        uint64_t v = 0;
        read(&v, sizeof v);
        if (min_element_bytes && v > remaining() / min_element_bytes) throw_bad_count(v);
        if (!min_element_bytes && v > remaining() && v > kMaxEmptyElements) throw_bad_count(v);
        return static_cast<size_t>(v);
    }
    static constexpr uint64_t kMaxEmptyElements = uint64_t{1} << 24;
    [[nodiscard]] size_t remaining() const noexcept { return static_cast<size_t>(end_ - p_); }
    [[nodiscard]] bool at_end() const noexcept { return p_ == end_; }

private:
    [[noreturn]] void throw_truncated(size_t wanted) const;
    [[noreturn]] void throw_bad_count(uint64_t count) const;
    const char* p_;
    const char* end_;
};

/// pickle.dumps: the encoding of `v`.
template <class T>
[[nodiscard]] std::string dumps(const T& v) {
    Writer w;
    w.put(v);
    return w.take();
}
/// pickle.loads: decodes a T from the whole of `data`; trailing bytes are an error.
template <class T>
[[nodiscard]] T loads(std::string_view data) {
    Reader r(data);
    T v = r.get<T>();
    if (!r.at_end()) throw SerializationError("loads: " + std::to_string(r.remaining()) + " bytes left over after the value");
    return v;
}

namespace detail {

template <class T, template <class...> class Tmpl>
struct is_specialization : std::false_type {};
template <template <class...> class Tmpl, class... A>
struct is_specialization<Tmpl<A...>, Tmpl> : std::true_type {};

template <class T>
struct is_view : std::false_type {};
template <class C, class Tr>
struct is_view<std::basic_string_view<C, Tr>> : std::true_type {};
template <class E, size_t N>
struct is_view<std::span<E, N>> : std::true_type {};

template <class T>
struct is_std_array : std::false_type {};
template <class T, size_t N>
struct is_std_array<std::array<T, N>> : std::true_type {};

/// Standard wrappers with codecs of their own, element by element: so that an element's own
/// Codec, its checks (a variant's index, a bool's byte) and its exclusions (a pointer inside an
/// optional) are never bypassed by copying the wrapper's bytes.
template <class T>
inline constexpr bool is_std_wrapper = is_specialization<T, std::optional>::value || is_specialization<T, std::variant>::value ||
                                       is_specialization<T, std::pair>::value || is_specialization<T, std::tuple>::value ||
                                       is_std_array<T>::value;

/// Sent as their bytes: arithmetic types, enums, and trivially copyable classes — but never an
/// address (pointers, views), which means nothing in another process.
template <class T>
inline constexpr bool is_bitwise =
    std::is_trivially_copyable_v<T> && !std::is_pointer_v<T> && !std::is_member_pointer_v<T> &&
    !std::is_null_pointer_v<T> && !is_view<T>::value && !is_std_wrapper<T> &&
    (std::is_arithmetic_v<T> || std::is_enum_v<T> || std::is_class_v<T>);

/// Where a container may copy its elements' bytes in one go: elements with the built-in codec of
/// an arithmetic type or an enum (a user Codec of a struct must run per element).
template <class T>
inline constexpr bool is_bulk = (std::is_arithmetic_v<T> || std::is_enum_v<T>) && !std::is_same_v<T, bool>;

/// Containers with begin/end/size whose elements are appended one by one on decode.
template <class C>
void encode_range(Writer& w, const C& c) {
    w.put_size(c.size());
    for (const auto& x : c) w.put(x);
}

/// The other half: the count, then each element handed to `add` (push_back, insert...).
/// The count is not checked against the bytes left (an element's encoding may be empty), only
/// capped (Reader::get_size(0)).
template <class T, class Add>
void decode_range(Reader& r, Add&& add) {
    const size_t n = r.get_size(0);
    for (size_t i = 0; i < n; ++i) add(r.get<T>());
}

}  // namespace detail

/// Arithmetic types, enums, trivially copyable structs: their bytes.
template <class T>
struct Codec<T, std::enable_if_t<detail::is_bitwise<T>>> {
    static void encode(Writer& w, const T& v) { w.write(&v, sizeof v); }
    static T decode(Reader& r) {
        if constexpr (std::is_same_v<T, bool>) {
            const auto b = static_cast<unsigned char>(*r.take(1));
            if (b > 1) throw SerializationError("corrupt message: a bool byte of " + std::to_string(b));
            return b == 1;
        } else {
            // Through a byte array and bit_cast: T may have no default constructor.
            struct Bytes {
                unsigned char b[sizeof(T)];
            } bytes;
            r.read(bytes.b, sizeof bytes.b);
            return std::bit_cast<T>(bytes);
        }
    }
};

template <class C, class Tr, class A>
struct Codec<std::basic_string<C, Tr, A>, std::enable_if_t<detail::is_bitwise<C>>> {
    using S = std::basic_string<C, Tr, A>;
    static void encode(Writer& w, const S& s) {
        w.put_size(s.size());
        w.write(s.data(), s.size() * sizeof(C));
    }
    static S decode(Reader& r) {
        const size_t n = r.get_size(sizeof(C));
        S s(n, C{});
        r.read(s.data(), n * sizeof(C));
        return s;
    }
};

template <class T, class A>
    requires Sendable<T>
struct Codec<std::vector<T, A>> {
    using V = std::vector<T, A>;
    static void encode(Writer& w, const V& v) {
        if constexpr (detail::is_bulk<T>) {
            w.put_size(v.size());
            w.write(v.data(), v.size() * sizeof(T));
        } else {
            detail::encode_range(w, v);
        }
    }
    static V decode(Reader& r) {
        if constexpr (detail::is_bulk<T>) {
            const size_t n = r.get_size(sizeof(T));
            V v(n);
            r.read(v.data(), n * sizeof(T));
            return v;
        } else {
            V v;
            detail::decode_range<T>(r, [&](T&& x) { v.push_back(std::move(x)); });
            return v;
        }
    }
};

/// std::array of non-bitwise elements (a bitwise array is bitwise as a whole).
template <class T, size_t N>
    requires(Sendable<T> && !detail::is_bitwise<std::array<T, N>>)
struct Codec<std::array<T, N>> {
    static void encode(Writer& w, const std::array<T, N>& a) {
        for (const auto& x : a) w.put(x);
    }
    static std::array<T, N> decode(Reader& r) {
        return [&]<size_t... I>(std::index_sequence<I...>) {
            // Braced init: the elements are decoded in order.
            return std::array<T, N>{((void)I, r.get<T>())...};
        }(std::make_index_sequence<N>{});
    }
};

/// Sequence containers built by push_back: deque, list.
template <class C>
    requires((detail::is_specialization<C, std::deque>::value || detail::is_specialization<C, std::list>::value) &&
             Sendable<typename C::value_type>)
struct Codec<C> {
    static void encode(Writer& w, const C& c) { detail::encode_range(w, c); }
    static C decode(Reader& r) {
        C c;
        detail::decode_range<typename C::value_type>(r, [&](typename C::value_type&& x) { c.push_back(std::move(x)); });
        return c;
    }
};

/// Associative containers: set, map, unordered_set, unordered_map (and the multi- kinds).
template <class C>
    requires((detail::is_specialization<C, std::set>::value || detail::is_specialization<C, std::multiset>::value ||
              detail::is_specialization<C, std::unordered_set>::value ||
              detail::is_specialization<C, std::unordered_multiset>::value) &&
             Sendable<typename C::value_type>)
struct Codec<C> {
    static void encode(Writer& w, const C& c) { detail::encode_range(w, c); }
    static C decode(Reader& r) {
        C c;
        detail::decode_range<typename C::value_type>(r, [&](typename C::value_type&& x) { c.insert(std::move(x)); });
        return c;
    }
};
template <class C>
    requires((detail::is_specialization<C, std::map>::value || detail::is_specialization<C, std::multimap>::value ||
              detail::is_specialization<C, std::unordered_map>::value ||
              detail::is_specialization<C, std::unordered_multimap>::value) &&
             Sendable<typename C::key_type> && Sendable<typename C::mapped_type>)
struct Codec<C> {
    static void encode(Writer& w, const C& c) {
        w.put_size(c.size());
        for (const auto& [k, v] : c) {
            w.put(k);
            w.put(v);
        }
    }
    static C decode(Reader& r) {
        const size_t n = r.get_size(0);
        C c;
        for (size_t i = 0; i < n; ++i) {
            auto k = r.get<typename C::key_type>();
            c.emplace(std::move(k), r.get<typename C::mapped_type>());
        }
        return c;
    }
};

template <class T>
    requires(Sendable<T> && !detail::is_bitwise<std::optional<T>>)
struct Codec<std::optional<T>> {
    static void encode(Writer& w, const std::optional<T>& o) {
        w.put<uint8_t>(o.has_value());
        if (o) w.put(*o);
    }
    static std::optional<T> decode(Reader& r) {
        if (!r.get<uint8_t>()) return std::nullopt;
        return std::optional<T>(r.get<T>());
    }
};

template <class A, class B>
    requires(Sendable<A> && Sendable<B> && !detail::is_bitwise<std::pair<A, B>>)
struct Codec<std::pair<A, B>> {
    static void encode(Writer& w, const std::pair<A, B>& p) {
        w.put(p.first);
        w.put(p.second);
    }
    static std::pair<A, B> decode(Reader& r) {
        auto a = r.get<A>();
        return {std::move(a), r.get<B>()};
    }
};

template <class... T>
    requires((Sendable<T> && ...) && !detail::is_bitwise<std::tuple<T...>>)
struct Codec<std::tuple<T...>> {
    static void encode(Writer& w, const std::tuple<T...>& t) {
        std::apply([&](const auto&... x) { (w.put(x), ...); }, t);
    }
    static std::tuple<T...> decode(Reader& r) {
        // Braced init: the elements are decoded left to right.
        return std::tuple<T...>{r.get<T>()...};
    }
};

template <class... T>
    requires((Sendable<T> && ...) && !detail::is_bitwise<std::variant<T...>>)
struct Codec<std::variant<T...>> {
    using V = std::variant<T...>;
    static void encode(Writer& w, const V& v) {
        if (v.valueless_by_exception()) throw SerializationError("cannot send a valueless std::variant");
        w.put<uint32_t>(static_cast<uint32_t>(v.index()));
        std::visit([&](const auto& x) { w.put(x); }, v);
    }
    static V decode(Reader& r) {
        const auto index = r.get<uint32_t>();
        return decode_at(r, index, std::index_sequence_for<T...>{});
    }

private:
    template <size_t... I>
    static V decode_at(Reader& r, uint32_t index, std::index_sequence<I...>) {
        if (index >= sizeof...(T)) throw SerializationError("variant index " + std::to_string(index) + " out of range");
        using Fn = V (*)(Reader&);
        static constexpr Fn table[] = {+[](Reader& rr) { return V(std::in_place_index<I>, rr.get<std::variant_alternative_t<I, V>>()); }...};
        return table[index](r);
    }
};

}  // namespace aio::mp
