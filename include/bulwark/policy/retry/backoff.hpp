#pragma once
/// \file
/// Backoffs: how long a retry waits before its next attempt.
///
/// ```cpp
/// bulwark::exponential_backoff{.base = 10ms, .cap = 1s, .jitter = bulwark::full_jitter}
/// ```
/// Four built-in kinds (`constant_backoff`, `linear_backoff`, `exponential_backoff`,
/// `decorrelated_backoff`), five jitters (`no_jitter`, `full_jitter`, `equal_jitter`,
/// `decorrelated_jitter`, `grpc_jitter`), `any_backoff` (one of the built-ins, chosen at run time:
/// the `.backoff` of `bulwark::retry`), and the `backoff` concept for your own.
///
/// Retry `n` (1 for the wait before the second attempt) has the raw delay `r(n)`:
/// constant `d`; linear `min(cap, base + (n−1)·step)` (Finagle `Backoff.linear`); exponential
/// `min(cap, base·multiplier^(n−1))` (gRPC A6, Finagle `Backoff.exponential`). The jitter then
/// draws the actual delay from `r(n)` (see `jitter_kind` for the formulas).

#include <bulwark/detail/validate.hpp>
#include <bulwark/policy/retry/jitter.hpp>
#include <bulwark/runtime/any_clock.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <variant>

namespace bulwark {

inline constexpr jitter_kind no_jitter = jitter_kind::none;
inline constexpr jitter_kind full_jitter = jitter_kind::full;
inline constexpr jitter_kind equal_jitter = jitter_kind::equal;
inline constexpr jitter_kind decorrelated_jitter = jitter_kind::decorrelated;
inline constexpr jitter_kind grpc_jitter = jitter_kind::grpc;

/// A backoff: `next_delay(n, previous, rng)` is the wait before retry `n` (1-based), given the
/// wait it returned for retry `n − 1` (zero for the first) and a random source.
template <class B>
concept backoff = requires(const B& b, std::uint32_t n, duration previous, backoff_rng& rng) {
    { b.next_delay(n, previous, rng) } -> std::same_as<duration>;
};

/// The same wait before every retry. **Failure semantics:** a negative delay, or decorrelated
/// jitter (which needs room to grow), throws `invalid_argument_error` at construction.
struct constant_backoff {
    duration delay = std::chrono::milliseconds{100};
    jitter_kind jitter = no_jitter;
    /// Not a setting: checks the settings above when the backoff is made.
    [[no_unique_address]] detail::settings_check validated{this};

    duration next_delay(std::uint32_t, duration previous, backoff_rng& rng) const noexcept {
        return detail::apply_jitter(jitter, delay, delay, delay, previous, rng);
    }
    void validate() const {
        detail::require(delay >= duration::zero(), "constant_backoff", "delay", ">= 0", delay);
        detail::require(jitter != jitter_kind::decorrelated, "constant_backoff", "jitter",
                        "other than decorrelated (decorrelated jitter needs room to grow; use "
                        "decorrelated_backoff or exponential_backoff)",
                        "decorrelated");
    }
};

/// A wait growing by `step` per retry, up to `cap` (Finagle `Backoff.linear`).
/// **Failure semantics:** negative durations or `cap < base` throw at construction.
struct linear_backoff {
    duration base = std::chrono::milliseconds{100};
    duration step = std::chrono::milliseconds{100};
    duration cap = std::chrono::seconds{10};
    jitter_kind jitter = no_jitter;
    /// Not a setting: checks the settings above when the backoff is made.
    [[no_unique_address]] detail::settings_check validated{this};

    duration raw_delay(std::uint32_t n) const noexcept {
        const std::int64_t k = n > 0 ? n - 1 : 0;
        if (step > duration::zero() && k > (cap - base) / step)
            return cap;
        return std::min(cap, base + step * k);
    }
    duration next_delay(std::uint32_t n, duration previous, backoff_rng& rng) const noexcept {
        return detail::apply_jitter(jitter, raw_delay(n), base, cap, previous, rng);
    }
    void validate() const {
        detail::require(base >= duration::zero(), "linear_backoff", "base", ">= 0", base);
        detail::require(step >= duration::zero(), "linear_backoff", "step", ">= 0", step);
        detail::require(cap >= base, "linear_backoff", "cap", ">= base", cap);
    }
};

/// A wait multiplied by `multiplier` per retry, up to `cap`; full jitter by default, as AWS
/// recommends. **Failure semantics:** negative durations, `cap < base` or `multiplier < 1` throw
/// at construction.
struct exponential_backoff {
    duration base = std::chrono::milliseconds{100};
    double multiplier = 2.0;
    duration cap = std::chrono::seconds{10};
    jitter_kind jitter = full_jitter;
    /// Not a setting: checks the settings above when the backoff is made.
    [[no_unique_address]] detail::settings_check validated{this};

    duration raw_delay(std::uint32_t n) const noexcept {
        const double ns = static_cast<double>(base.count()) *
                          std::pow(multiplier, static_cast<double>(n > 0 ? n - 1 : 0));
        if (!(ns < static_cast<double>(cap.count()))) // also catches inf and NaN
            return cap;
        return duration{static_cast<duration::rep>(ns)};
    }
    duration next_delay(std::uint32_t n, duration previous, backoff_rng& rng) const noexcept {
        return detail::apply_jitter(jitter, raw_delay(n), base, cap, previous, rng);
    }
    void validate() const {
        detail::require(base >= duration::zero(), "exponential_backoff", "base", ">= 0", base);
        // NaN fails the comparison; an infinite multiplier would reach the cap at once anyway
        // but is almost surely a configuration mistake
        detail::require(multiplier >= 1.0 && std::isfinite(multiplier), "exponential_backoff",
                        "multiplier", ">= 1 and finite", multiplier);
        detail::require(cap >= base, "exponential_backoff", "cap", ">= base", cap);
    }
};

/// AWS "decorrelated jitter": `d(n) = min(cap, U[base, 3·d(n−1)])`, `d(0) = base` (Finagle
/// `Backoff.decorrelatedJittered`). **Failure semantics:** `base <= 0` or `cap < base` throw at
/// construction.
struct decorrelated_backoff {
    duration base = std::chrono::milliseconds{100};
    duration cap = std::chrono::seconds{10};
    /// Not a setting: checks the settings above when the backoff is made.
    [[no_unique_address]] detail::settings_check validated{this};

    duration next_delay(std::uint32_t, duration previous, backoff_rng& rng) const noexcept {
        return detail::apply_jitter(jitter_kind::decorrelated, base, base, cap, previous, rng);
    }
    void validate() const {
        detail::require(base > duration::zero(), "decorrelated_backoff", "base", "> 0", base);
        detail::require(cap >= base, "decorrelated_backoff", "cap", ">= base", cap);
    }
};

/// One of the built-in backoffs, chosen at run time (from configuration, say); the `.backoff`
/// of `bulwark::retry`. Defaults to `exponential_backoff{}`.
///
/// **Complexity:** one branch on the kind per retry (never on the success path).
class any_backoff {
public:
    any_backoff() = default;
    any_backoff(exponential_backoff b) noexcept
        : kind_(b) {}
    any_backoff(constant_backoff b) noexcept
        : kind_(b) {}
    any_backoff(linear_backoff b) noexcept
        : kind_(b) {}
    any_backoff(decorrelated_backoff b) noexcept
        : kind_(b) {}

    duration next_delay(std::uint32_t n, duration previous, backoff_rng& rng) const noexcept {
        return std::visit([&](const auto& b) { return b.next_delay(n, previous, rng); }, kind_);
    }
    /// The backoff held, or null for another kind.
    template <class B>
    const B* get_if() const noexcept {
        return std::get_if<B>(&kind_);
    }

private:
    std::variant<exponential_backoff, constant_backoff, linear_backoff, decorrelated_backoff>
        kind_{};
};

static_assert(backoff<constant_backoff> && backoff<linear_backoff> &&
              backoff<exponential_backoff> && backoff<decorrelated_backoff> &&
              backoff<any_backoff>);

} // namespace bulwark
