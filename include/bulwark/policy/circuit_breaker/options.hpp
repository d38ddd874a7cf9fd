#pragma once
/// \file
/// The public vocabulary of the circuit breaker: its state, its transitions, its options and its
/// metrics. Included by `policy/circuit_breaker.hpp`.

#include <bulwark/core/error.hpp>
#include <bulwark/policy/circuit_breaker/window.hpp>
#include <bulwark/runtime/any_clock.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace bulwark {

/// The states of a breaker (resilience4j's, plus Polly's "isolated" as `forced_open`).
enum class breaker_state : std::uint8_t {
    closed,      ///< calls pass; outcomes are recorded; thresholds may open it
    open,        ///< calls are rejected until `open_for` has passed
    half_open,   ///< `half_open_calls` trial calls pass; their outcomes close or reopen it
    forced_open, ///< rejects every call until `reset()` (manual: `isolate()`)
    disabled,    ///< every call passes, nothing is recorded (manual)
    metrics_only ///< every call passes and is recorded; never changes state (manual)
};

/// The enumerator's name ("closed", ...); "unknown" for a value outside the enum.
constexpr std::string_view to_string(breaker_state v) noexcept {
    switch (v) {
    case breaker_state::closed:
        return "closed";
    case breaker_state::open:
        return "open";
    case breaker_state::half_open:
        return "half_open";
    case breaker_state::forced_open:
        return "forced_open";
    case breaker_state::disabled:
        return "disabled";
    case breaker_state::metrics_only:
        return "metrics_only";
    }
    return "unknown";
}
/// Writes `to_string(v)` (any stream that takes a `std::string_view`).
template <class Os>
requires requires(Os& os, std::string_view s) {
    os << s;
}
Os& operator<<(Os& os, breaker_state v) {
    os << to_string(v);
    return os;
}

/// A state change, as the listener sees it.
struct breaker_transition {
    breaker_state from = breaker_state::closed;
    breaker_state to = breaker_state::closed;
    bool happened = false;
};

/// Settings of a circuit breaker. Defaults are resilience4j's, except the slow-call threshold,
/// which is off until `slow_call_duration` is set (timing each call reads the clock twice).
///
/// **Failure semantics:** the breaker's constructor throws `invalid_argument_error` for a setting
/// out of range (empty window, a rate outside (0, 1], a negative duration...).
struct circuit_breaker_options {
    /// The sliding window of the rate thresholds: `count_window{n}` or `time_window{seconds}`.
    std::variant<count_window, time_window> window = count_window{100};
    /// Open when failures / calls >= this, in (0, 1] (resilience4j failureRateThreshold 50 %).
    double failure_rate = 0.5;
    /// Open when slow calls / calls >= this, in (0, 1] (resilience4j slowCallRateThreshold 100 %).
    double slow_call_rate = 1.0;
    /// A call that takes at least this long is slow; unset = do not time calls
    /// (resilience4j slowCallDurationThreshold is 60 s).
    std::optional<duration> slow_call_duration{};
    /// The rates are judged only once the window holds this many calls (resilience4j 100;
    /// clamped to a count window's size, as resilience4j does).
    std::int64_t minimum_calls = 100;
    /// When > 0: open after this many failures in a row instead of on rates (Polly v7's
    /// "simple" breaker, failsafe's count threshold); half-open then reopens on the first failure.
    std::int64_t consecutive_failures = 0;
    /// How long the breaker stays open before letting trial calls through (resilience4j 60 s).
    duration open_for = std::chrono::seconds{60};
    /// Each trip that follows a failed half-open multiplies the open time by this (>= 1;
    /// 1 = constant), up to `max_open_for` (Envoy's ejection time x ejection count, capped).
    double open_multiplier = 1.0;
    /// The cap of the growing open time (Envoy max_ejection_time 300 s).
    duration max_open_for = std::chrono::seconds{300};
    /// Trial calls let through in half-open, judged together as one window (resilience4j 10).
    std::int64_t half_open_calls = 10;
    /// After this long in half-open without a verdict, open again (0 = wait forever;
    /// resilience4j maxWaitDurationInHalfOpenState, for trial calls that never complete).
    duration max_wait_in_half_open = duration::zero();
    /// The time source (`.clock = manual` in tests).
    any_clock clock{};
};

/// What a breaker has seen, at one moment (`circuit_breaker::metrics()`).
///
/// Two kinds of numbers: **windowed** ones describe the breaker's current judgement and are
/// reset when it closes (`window`, `consecutive_failures`, `trips`); **lifetime** ones only ever
/// grow, from construction (`total_trips`, `total_rejected`, and `rejected`, its older name):
/// export those as monotonic counters. Each field is read on its own (relaxed), so a snapshot
/// taken while calls run is consistent per field, not across fields.
struct breaker_metrics {
    /// The state now.
    breaker_state state = breaker_state::closed;
    /// Calls / failures / slow calls in the sliding window (count or time window); emptied when
    /// the breaker closes. Always empty in consecutive mode (`consecutive_failures` > 0).
    window_snapshot window{};
    /// Failures in a row (consecutive mode); back to 0 on a success and when the breaker closes.
    std::int64_t consecutive_failures = 0;
    /// Calls rejected since construction (open, forced open, or half-open with its trial calls
    /// taken). Never reset: the same count as `total_rejected`.
    std::int64_t rejected = 0;
    /// Opens since the breaker last closed from half-open (or was reset): the trip count that
    /// grows the open time (`open_multiplier`). Back to 0 on close.
    std::int64_t trips = 0;
    /// Moves to `open` since construction (thresholds crossed, failed or stalled half-open
    /// trials, `trip()`); `isolate()` (forced open) is not counted. Never reset.
    std::int64_t total_trips = 0;
    /// Calls rejected since construction. Never reset.
    std::int64_t total_rejected = 0;
    /// `window.failures / window.calls` (0 for an empty window).
    double failure_rate() const noexcept { return window.failure_rate(); }
    /// `window.slow / window.calls` (0 for an empty window).
    double slow_call_rate() const noexcept { return window.slow_rate(); }
};

} // namespace bulwark
