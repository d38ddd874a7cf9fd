#pragma once
/// \file
/// Fast per-thread randomness and hash mixing for the strategies (no lock, no allocation).

#include <bulwark/detail/hash.hpp>

#include <atomic>
#include <cstdint>
#include <string_view>

namespace bulwark::detail {

/// FNV-1a, 64-bit (the same hash as `context::set_hash_key(string_view)`).
constexpr std::uint64_t fnv1a(std::string_view s,
                              std::uint64_t h = 0xcbf29ce484222325ULL) noexcept {
    for (unsigned char c : s)
        h = (h ^ c) * 0x100000001b3ULL;
    return h;
}

/// A 64-bit random number from this thread's generator (splitmix64 over a per-thread seed).
inline std::uint64_t thread_random() noexcept {
    static std::atomic<std::uint64_t> seeds{0x853c49e6748fea9bULL};
    thread_local std::uint64_t state =
        seeds.fetch_add(0x9e3779b97f4a7c15ULL, std::memory_order_relaxed) ^
        reinterpret_cast<std::uintptr_t>(&state);
    state += 0x9e3779b97f4a7c15ULL;
    std::uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/// Maps 32 random bits onto [0, n) without a division (Lemire's multiply-shift; n < 2^32).
constexpr std::uint32_t reduce(std::uint32_t bits, std::uint32_t n) noexcept {
    return static_cast<std::uint32_t>((static_cast<std::uint64_t>(bits) * n) >> 32);
}

/// A uniform index in [0, n).
inline std::uint32_t random_index(std::uint32_t n) noexcept {
    return reduce(static_cast<std::uint32_t>(thread_random() >> 32), n);
}

} // namespace bulwark::detail
