#pragma once
/// \file
/// Fast per-thread randomness for the strategies (no lock, no allocation), on the library's one
/// hash (`detail/hash.hpp`: SplitMix64's `mix64`, FNV-1a).

#include <bulwark/detail/hash.hpp>

#include <atomic>
#include <cstdint>

namespace bulwark::detail {

/// A 64-bit random number from this thread's generator: SplitMix64, i.e. `mix64` of a
/// per-thread counter that steps by the golden ratio.
inline std::uint64_t thread_random() noexcept {
    static std::atomic<std::uint64_t> seeds{0x853c49e6748fea9bULL};
    thread_local std::uint64_t state =
        seeds.fetch_add(0x9e3779b97f4a7c15ULL, std::memory_order_relaxed) ^
        reinterpret_cast<std::uintptr_t>(&state);
    const std::uint64_t s = state;
    state += 0x9e3779b97f4a7c15ULL;
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
