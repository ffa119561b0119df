// What E21 (primes over two processes) and E22 (the same over two threads) share: the seed's
// prime test, its range split, and the digit grouping of their output.
#pragma once

#include <string>

namespace aio_demo::primes {

/// "148933" -> "148,933".
inline std::string grouped(long v) {
    std::string digits = std::to_string(v), out;
    for (size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return out;
}

/// The seed's is_prime: try every divisor from 2 up to sqrt(n). For n >= 2.
inline bool is_prime(int n) {
    for (int d = 2; d * d <= n; ++d)
        if (n % d == 0) return false;
    return true;
}

/// The primes in [lo, hi).
inline long count_primes(int lo, int hi) {
    long count = 0;
    for (int i = lo; i < hi; ++i) count += is_prime(i);
    return count;
}

/// The seed's two halves: [2, 1,000,001) and [1,000,001, 2,000,001).
constexpr int kFirst = 2, kMiddle = 1'000'001, kEnd = 2'000'001;

}  // namespace aio_demo::primes
