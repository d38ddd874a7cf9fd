#pragma once
/// \file
/// Small hash functions shared by components (balancers, message ids).

#include <cstdint>

namespace bulwark::detail {

/// SplitMix64's finalizer: a bijection on 64-bit integers that spreads low-entropy keys (FNV
/// hashes, counters) over all 64 bits.
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

} // namespace bulwark::detail
