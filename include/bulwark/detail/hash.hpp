#pragma once
/// \file
/// Small hash functions shared by components (balancers, message ids).

#include <cstdint>
#include <string_view>

namespace bulwark::detail {

/// SplitMix64's finalizer: a bijection on 64-bit integers that spreads low-entropy keys (FNV
/// hashes, counters) over all 64 bits.
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/// One step of the SplitMix64 generator: returns the next number and advances `state`.
/// (The generator is `mix64` over a counter stepping by the golden-ratio constant.)
constexpr std::uint64_t splitmix64_next(std::uint64_t& state) noexcept {
    const std::uint64_t z = mix64(state);
    state += 0x9e3779b97f4a7c15ULL;
    return z;
}

/// FNV-1a, 64-bit, over the bytes of `s` (stable across runs and platforms): the hash of
/// `context::set_hash_key(string_view)`; balancers hash endpoint addresses with it.
constexpr std::uint64_t fnv1a64(std::string_view s,
                                std::uint64_t h = 0xcbf29ce484222325ULL) noexcept {
    for (char c : s)
        h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    return h;
}

} // namespace bulwark::detail
