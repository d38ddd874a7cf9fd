#pragma once
/// \file
/// What every adaptive-limit algorithm consumes: one `limit_sample` per window (the window's
/// mean round-trip time, its largest in-flight count, and whether any call was dropped), and
/// the `limit_algorithm` concept. The contract follows Netflix concurrency-limits' `Limit`
/// (`onSample(startTime, rtt, inflight, didDrop)`) behind its `WindowedLimit`.

#include <bulwark/core/time_types.hpp>

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>

namespace bulwark {

/// One measurement handed to an algorithm: a closed window's aggregate.
struct limit_sample {
    duration rtt{};           ///< mean round-trip time of the window's calls (> 0)
    std::size_t inflight = 0; ///< largest number of calls in flight, each counting itself
    bool dropped = false;     ///< a call of the window was dropped (timed out): the loss signal
};

/// An adaptive-limit algorithm: a decision object with no synchronisation of its own (the
/// limiter calls it from one thread at a time, once per window).
template <class A>
concept limit_algorithm = requires(A& a, const A& ca, const limit_sample& s) {
    typename A::options;
    { a.on_sample(s) } -> std::same_as<void>;
    { ca.limit() } -> std::convertible_to<std::size_t>;
};

namespace detail {

/// `max(1, floor(log10 L))`: the step of Vegas and of failsafe-go's limiter (1 below 100, 2 for
/// 100-999, ...).
inline double log10_step(double limit) noexcept {
    return std::max(1.0, std::floor(std::log10(std::max(limit, 1.0))));
}

/// The limit as an integer: the algorithms keep a double and publish its integer part.
inline std::size_t published(double limit) noexcept {
    // Callers clamp to [1, max] with max a size_t read back from a double, so this never
    // overflows; the guard keeps a NaN from becoming an undefined conversion.
    return limit >= 1.0 ? static_cast<std::size_t>(limit) : std::size_t{1};
}

/// splitmix64: the probes' jitter (deterministic per seed, so tests reproduce).
inline double unit_random(std::uint64_t& state) noexcept {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return static_cast<double>(z >> 11) * 0x1.0p-53;
}

} // namespace detail
} // namespace bulwark
