#include "aio/http/headers.hpp"

#include <algorithm>
#include <stdexcept>

namespace aio::http {

namespace {
constexpr char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
}  // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

const Headers::value_type* Headers::find(std::string_view name) const noexcept {
    for (const auto& kv : items_)
        if (iequals(kv.first, name)) return &kv;
    return nullptr;
}

void Headers::set(std::string_view name, std::string value) {
    auto first = std::find_if(items_.begin(), items_.end(), [&](const value_type& kv) { return iequals(kv.first, name); });
    if (first == items_.end()) {
        items_.emplace_back(std::string(name), std::move(value));
        return;
    }
    first->second = std::move(value);
    items_.erase(std::remove_if(first + 1, items_.end(), [&](const value_type& kv) { return iequals(kv.first, name); }),
                 items_.end());
}

void Headers::setdefault(std::string_view name, std::string value) {
    if (!contains(name)) items_.emplace_back(std::string(name), std::move(value));
}

std::optional<std::string_view> Headers::get(std::string_view name) const noexcept {
    if (const value_type* kv = find(name)) return std::string_view(kv->second);
    return std::nullopt;
}

std::string Headers::get(std::string_view name, std::string_view default_value) const {
    if (const value_type* kv = find(name)) return kv->second;
    return std::string(default_value);
}

const std::string& Headers::at(std::string_view name) const {
    if (const value_type* kv = find(name)) return kv->second;
    throw std::out_of_range("no header '" + std::string(name) + "'");
}

std::vector<std::string_view> Headers::getall(std::string_view name) const {
    std::vector<std::string_view> out;
    for (const auto& kv : items_)
        if (iequals(kv.first, name)) out.emplace_back(kv.second);
    return out;
}

size_t Headers::erase(std::string_view name) {
    auto it = std::remove_if(items_.begin(), items_.end(), [&](const value_type& kv) { return iequals(kv.first, name); });
    size_t n = static_cast<size_t>(items_.end() - it);
    items_.erase(it, items_.end());
    return n;
}

void Headers::extend(const Headers& other, bool replace) {
    if (replace)
        for (const auto& kv : other) erase(kv.first);
    for (const auto& kv : other) items_.push_back(kv);
}

bool operator==(const Headers& a, const Headers& b) {
    if (a.items_.size() != b.items_.size()) return false;
    for (size_t i = 0; i < a.items_.size(); ++i)
        if (!iequals(a.items_[i].first, b.items_[i].first) || a.items_[i].second != b.items_[i].second) return false;
    return true;
}

}  // namespace aio::http
