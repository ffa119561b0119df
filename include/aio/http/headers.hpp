// aio::http::Headers — multidict's CIMultiDict as aiohttp uses it for headers: a list of
// (name, value) pairs kept in order, looked up without regard to the case of the name, where a
// name may repeat (Set-Cookie, Via...).
#pragma once

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aio::http {

/// ASCII case-insensitive equality, as header names compare.
[[nodiscard]] bool iequals(std::string_view a, std::string_view b) noexcept;

/// multidict.CIMultiDict[str, str]. Linear lookups: a message has a handful of headers, and a
/// vector of pairs beats any hash map at that size.
class Headers {
public:
    using value_type = std::pair<std::string, std::string>;
    using const_iterator = std::vector<value_type>::const_iterator;

    Headers() = default;
    Headers(std::initializer_list<value_type> items) : items_(items) {}

    /// d.add(name, value): appends, keeping any existing values of the same name.
    void add(std::string name, std::string value) { items_.emplace_back(std::move(name), std::move(value)); }
    /// add(), returning the new entry, to be filled in place (a parser appends to it piece by piece).
    value_type& add_entry(std::string name = {}, std::string value = {}) {
        return items_.emplace_back(std::move(name), std::move(value));
    }
    /// d[name] = value: replaces every value of `name` with this one (added at the first one's place).
    void set(std::string_view name, std::string value);
    /// d.setdefault(name, value): adds it only if `name` is absent.
    void setdefault(std::string_view name, std::string value);
    /// d.get(name): the first value, or nullopt.
    [[nodiscard]] std::optional<std::string_view> get(std::string_view name) const noexcept;
    /// d.get(name, default).
    [[nodiscard]] std::string get(std::string_view name, std::string_view default_value) const;
    /// d[name]: the first value; std::out_of_range (Python: KeyError) naming the header if absent.
    [[nodiscard]] const std::string& at(std::string_view name) const;
    /// d.getall(name, []): every value, in order.
    [[nodiscard]] std::vector<std::string_view> getall(std::string_view name) const;
    /// `name in d`.
    [[nodiscard]] bool contains(std::string_view name) const noexcept { return find(name) != nullptr; }
    /// d.popall(name, None): removes every value of `name`; returns how many there were.
    size_t erase(std::string_view name);
    /// d.extend(other) / d.update(other) (`replace` true: update, replacing same-named headers).
    void extend(const Headers& other, bool replace = false);
    void clear() noexcept { items_.clear(); }
    void swap(Headers& o) noexcept { items_.swap(o.items_); }

    [[nodiscard]] size_t size() const noexcept { return items_.size(); }
    [[nodiscard]] bool empty() const noexcept { return items_.empty(); }
    [[nodiscard]] const_iterator begin() const noexcept { return items_.begin(); }
    [[nodiscard]] const_iterator end() const noexcept { return items_.end(); }
    /// The pairs, in order.
    [[nodiscard]] const std::vector<value_type>& items() const noexcept { return items_; }

    friend bool operator==(const Headers& a, const Headers& b);

private:
    [[nodiscard]] const value_type* find(std::string_view name) const noexcept;
    std::vector<value_type> items_;
};

}  // namespace aio::http
