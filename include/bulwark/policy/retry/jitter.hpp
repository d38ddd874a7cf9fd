#pragma once
/// \file
/// Internals of backoff: the random source, the jitter formulas and the "validate the settings
/// when the aggregate is made" member. Public names live in <bulwark/policy/retry/backoff.hpp>.

#include <bulwark/core/error.hpp>
#include <bulwark/detail/enum_text.hpp>
#include <bulwark/detail/hash.hpp>
#include <bulwark/runtime/any_clock.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace bulwark {

/// How a backoff randomizes its delays (the AWS Architecture Blog's "Exponential Backoff And
/// Jitter" kinds, as Finagle's `Backoff` offers them, plus gRPC A6's ±20 %).
enum class jitter_kind : std::uint8_t {
    none,         ///< the raw delay r
    full,         ///< U[0, r]                         (AWS "full jitter")
    equal,        ///< r/2 + U[0, r/2]                 (AWS "equal jitter")
    decorrelated, ///< min(cap, U[base, 3·previous])   (AWS "decorrelated jitter")
    grpc,         ///< r · U[0.8, 1.2]                 (gRPC A6 retry backoff)
};

/// The enumerator's name ("none", ...); "unknown" for a value outside the enum.
constexpr std::string_view to_string(jitter_kind v) noexcept {
    switch (v) {
    case jitter_kind::none:
        return "none";
    case jitter_kind::full:
        return "full";
    case jitter_kind::equal:
        return "equal";
    case jitter_kind::decorrelated:
        return "decorrelated";
    case jitter_kind::grpc:
        return "grpc";
    }
    return "unknown";
}

/// A small, fast random source for jitter (SplitMix64). Not for cryptography.
///
/// **Thread safety:** one per thread; `thread_instance()` gives this thread's, seeded apart from
/// every other thread's. **Allocation:** none.
class backoff_rng {
public:
    constexpr explicit backoff_rng(std::uint64_t seed = 0x9E3779B97F4A7C15ULL) noexcept
        : state_(seed) {}

    /// The next 64 random bits.
    constexpr std::uint64_t next() noexcept { return detail::splitmix64_next(state_); }

    /// A duration uniform in `[lo, hi]` (both included); `lo` when `hi <= lo`.
    constexpr duration uniform(duration lo, duration hi) noexcept {
        if (hi <= lo)
            return lo;
        const auto span =
            static_cast<std::uint64_t>(hi.count()) - static_cast<std::uint64_t>(lo.count());
        if (span == ~std::uint64_t{0})
            return lo + duration{static_cast<duration::rep>(next() >> 1)};
        // Modulo bias is below span / 2^64: invisible for any delay a retry uses.
        return lo + duration{static_cast<duration::rep>(next() % (span + 1))};
    }

    /// This thread's generator (seeded from the thread and the time on first use).
    static backoff_rng& thread_instance() noexcept {
        thread_local backoff_rng rng{seed_for_this_thread()};
        return rng;
    }

private:
    static std::uint64_t seed_for_this_thread() noexcept {
        static thread_local char marker;
        auto a = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(&marker));
        auto t =
            static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
        return a * 0xD6E8FEB86659FD93ULL ^ t;
    }
    std::uint64_t state_;
};

namespace detail {

/// `a · k` for small k, saturating at `duration::max()`.
constexpr duration saturating_mul(duration a, std::int64_t k) noexcept {
    if (a <= duration::zero() || k <= 0)
        return duration::zero();
    if (a.count() > duration::max().count() / k)
        return duration::max();
    return a * k;
}

/// Applies `kind` to the raw delay `raw` of a backoff whose first delay is `base`, whose cap is
/// `cap` and whose previous (jittered) delay was `previous` (zero before the first retry).
inline duration apply_jitter(jitter_kind kind, duration raw, duration base, duration cap,
                             duration previous, backoff_rng& rng) noexcept {
    switch (kind) {
    case jitter_kind::none:
        return raw;
    case jitter_kind::full:
        return rng.uniform(duration::zero(), raw);
    case jitter_kind::equal: {
        duration half = raw / 2;
        return half + rng.uniform(duration::zero(), raw - half);
    }
    case jitter_kind::decorrelated: {
        // AWS: sleep = min(cap, random_between(base, sleep * 3)), sleep starting at base.
        duration prev = previous > duration::zero() ? previous : base;
        duration hi = std::min(saturating_mul(prev, 3), cap);
        return rng.uniform(std::min(base, cap), std::max(hi, std::min(base, cap)));
    }
    case jitter_kind::grpc: {
        duration fifth = raw / 5;
        duration hi = raw > duration::max() - fifth ? duration::max() : raw + fifth;
        return rng.uniform(raw - fifth, hi);
    }
    }
    return raw;
}

} // namespace detail
} // namespace bulwark
