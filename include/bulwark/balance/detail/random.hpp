#pragma once
/// \file
/// Fast per-thread randomness for the strategies (no lock, no allocation), on the library's one
/// hash (`detail/hash.hpp`: SplitMix64's `mix64`, FNV-1a).

#include <bulwark/detail/hash.hpp>

#include <atomic>
#include <cstdint>

namespace bulwark::detail {

/// Seeds the calling thread's generator (its first draw; out of line, so a draw inlines to a
/// thread-local load, an add, a store and the mix).
[[gnu::noinline, gnu::cold]] inline std::uint64_t seed_thread_random() noexcept {
    static std::atomic<std::uint64_t> seeds{0x853c49e6748fea9bULL};
    static thread_local const int anchor = 0; // a per-thread address
    std::uint64_t s = seeds.fetch_add(0x9e3779b97f4a7c15ULL, std::memory_order_relaxed) ^
                      reinterpret_cast<std::uintptr_t>(&anchor);
    return s == 0 ? 1 : s;
}

namespace thread_random_detail {
// Constant-initialised (0 = not seeded yet), so reading it needs no thread-local guard.
inline thread_local std::uint64_t state = 0;
} // namespace thread_random_detail

/// A 64-bit random number from this thread's generator: SplitMix64, i.e. `mix64` of a
/// per-thread counter that steps by the golden ratio.
inline std::uint64_t thread_random() noexcept {
    std::uint64_t s = thread_random_detail::state;
    if (s == 0) [[unlikely]]
        s = seed_thread_random();
    // The counter skips 0 (the "unseeded" mark): one step in 2^64, invisible to the sequence.
    std::uint64_t n = s + 0x9e3779b97f4a7c15ULL;
    thread_random_detail::state = n == 0 ? 1 : n;
    return mix64(s);
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
