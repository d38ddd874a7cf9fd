#pragma once
/// \file
/// Unique 128-bit ids without a lock or an allocation: a per-thread 64-bit prefix (a bijective
/// mix of a random process seed and a thread ordinal, so prefixes never repeat within a process)
/// and a per-thread counter. Hex text helpers for headers.

#include <bulwark/detail/hash.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <string_view>

namespace bulwark::detail {

inline std::uint64_t process_seed() noexcept {
    static const std::uint64_t seed = [] {
        std::uint64_t s =
            static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
        try {
            std::random_device rd;
            s ^= (std::uint64_t{rd()} << 32) ^ rd();
        } catch (...) { // no entropy source: the clock alone still separates processes
        }
        return s;
    }();
    return seed;
}

inline std::atomic<std::uint64_t>& thread_ordinal() noexcept {
    static std::atomic<std::uint64_t> n{0};
    return n;
}

struct id_state {
    std::uint64_t prefix = 0;
    std::uint64_t counter = 0;
};
inline thread_local id_state tls_ids; // trivially constructible: no TLS guard on access

/// A fresh id (hi, lo), never (0, 0).
inline void next_id(std::uint64_t& hi, std::uint64_t& lo) noexcept {
    id_state& s = tls_ids;
    if (s.prefix == 0) [[unlikely]] {
        do {
            s.prefix =
                mix64(process_seed() + thread_ordinal().fetch_add(1, std::memory_order_relaxed));
        } while (s.prefix == 0);
    }
    hi = s.prefix;
    lo = ++s.counter;
}

inline constexpr char hex_digits[] = "0123456789abcdef";

/// Writes `v` as 16 lowercase hex digits.
constexpr void write_hex64(char* out, std::uint64_t v) noexcept {
    for (int i = 15; i >= 0; --i) {
        out[i] = hex_digits[v & 0xf];
        v >>= 4;
    }
}

constexpr int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/// Parses exactly `s.size()` (<= 16) hex digits; false on any other character.
constexpr bool read_hex64(std::string_view s, std::uint64_t& v) noexcept {
    v = 0;
    for (char c : s) {
        int d = hex_value(c);
        if (d < 0)
            return false;
        v = (v << 4) | static_cast<std::uint64_t>(d);
    }
    return true;
}

} // namespace bulwark::detail
