#pragma once
/// \file
/// The circuit breaker's settings and its state machine (`detail::breaker_core`): one
/// non-template, lock-free core shared by `execute` and `async_execute` of every
/// `basic_circuit_breaker`. States and thresholds follow resilience4j
/// (`CircuitBreakerStateMachine`).

#include <bulwark/core/error.hpp>
#include <bulwark/runtime/any_clock.hpp>
#include <bulwark/policy/sliding_window.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
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

/// What a breaker has seen, at one moment.
struct breaker_metrics {
    breaker_state state = breaker_state::closed;
    window_snapshot window{};              ///< calls / failures / slow calls in the window
    std::int64_t consecutive_failures = 0; ///< failures in a row (consecutive mode)
    std::int64_t rejected = 0;             ///< calls rejected since construction
    std::int64_t trips = 0;                ///< opens since the breaker last closed from half-open
    double failure_rate() const noexcept { return window.failure_rate(); }
    double slow_call_rate() const noexcept { return window.slow_rate(); }
};

namespace detail {

/// Admission of one call: the state word it was admitted under (to record against), or the
/// rejection; plus the state change that admission caused, for the listener.
struct breaker_permit {
    std::uint64_t word = 0;
    bool admitted = false;
    duration retry_after{};
    breaker_transition transition{};
};

/// The state machine. Hot path (closed): `acquire` is one atomic load; recording a success into
/// a count window full of successes is three loads and no write. Transitions (cold) take a
/// mutex and publish a new state word `(epoch << 8) | state`; outcomes of calls admitted under
/// an older word are dropped, so a call admitted before a trip never judges the half-open trial.
class breaker_core {
public:
    explicit breaker_core(const circuit_breaker_options& o);

    /// Admits or rejects one call. Closed (and disabled, metrics-only): one acquire load.
    breaker_permit acquire() noexcept {
        const std::uint64_t w = state_.load(std::memory_order_acquire);
        const breaker_state s = state_of(w);
        if (s == breaker_state::closed || s == breaker_state::metrics_only ||
            s == breaker_state::disabled) [[likely]]
            return {w, true, {}, {}};
        return acquire_slow();
    }

    /// Records the outcome of an admitted call. `failed`/`ignored` come from the classifier;
    /// `start` is when the call began (read only when calls are timed).
    breaker_transition record(const breaker_permit& p, bool failed, bool ignored,
                              time_point start) noexcept {
        // The success path of a healthy breaker writes nothing: a success into a count window
        // full of successes, or after a success in consecutive mode, changes no state.
        if (!failed && !ignored && success_changes_nothing(p)) [[likely]]
            return {};
        return record_slow(p, failed, ignored, start);
    }

    bool times_calls() const noexcept { return slow_after_ > duration::zero(); }
    time_point now() const noexcept { return clock_.now(); }
    breaker_state state() const noexcept {
        return state_of(state_.load(std::memory_order_acquire));
    }
    breaker_metrics metrics() noexcept;
    breaker_transition transition_to(breaker_state to) noexcept;

    static breaker_state state_of(std::uint64_t w) noexcept {
        return static_cast<breaker_state>(w & 0xff);
    }

private:
    static std::uint64_t epoch_of(std::uint64_t w) noexcept { return w >> 8; }
    static std::uint64_t make_word(std::uint64_t epoch, breaker_state s) noexcept {
        return (epoch << 8) | static_cast<std::uint64_t>(s);
    }

    bool success_changes_nothing(const breaker_permit& p) const noexcept {
        if (state_of(p.word) == breaker_state::half_open)
            return false;
        switch (fast_) {
        case fast_success::count:
            return count_->full_of_successes();
        case fast_success::consecutive:
            return consecutive_.load(std::memory_order_relaxed) == 0;
        default:
            return false;
        }
    }
    breaker_permit acquire_slow() noexcept;
    breaker_transition record_slow(const breaker_permit& p, bool failed, bool ignored,
                                   time_point start) noexcept;
    breaker_transition record_window(const breaker_permit& p, bool failed, bool slow,
                                     time_point end) noexcept;
    breaker_transition record_half_open(const breaker_permit& p, bool failed, bool slow,
                                        bool ignored) noexcept;
    /// Moves from the state word `from` to `to` if it is still current (under the mutex).
    breaker_transition move(std::uint64_t from, breaker_state to) noexcept;
    breaker_transition move_locked(std::uint64_t from, breaker_state to) noexcept;
    duration open_time(std::int64_t trips) const noexcept;
    window_snapshot snapshot(time_point now) noexcept {
        return window_kind_ == kind::count ? count_->snapshot() : time_->snapshot(now);
    }

    enum class kind : std::uint8_t { count, time, consecutive };
    /// Which success can skip recording (none when calls are timed: a success may be slow).
    enum class fast_success : std::uint8_t { none, count, consecutive };

    // Read-mostly line: the state word and the settings the hot path reads.
    alignas(64) std::atomic<std::uint64_t> state_;
    kind window_kind_;
    fast_success fast_ = fast_success::none;
    duration slow_after_{};
    any_clock clock_;
    double failure_rate_, slow_rate_;
    std::int64_t minimum_calls_, consecutive_threshold_, half_open_calls_;
    duration open_for_, max_open_for_, max_wait_half_open_;
    double open_multiplier_;
    std::optional<count_window_core> count_;
    std::optional<time_window_core> time_;

    // Written on failures and transitions only.
    alignas(64) std::atomic<std::int64_t> consecutive_{0};
    std::atomic<std::int64_t> open_until_{0}; ///< ticks of time_point, valid while open
    std::atomic<std::int64_t> half_open_since_{0};
    std::atomic<std::uint64_t> ho_admit_{0}; ///< (epoch32 << 32) | issued
    std::atomic<std::uint64_t> ho_results_{
        0}; ///< (epoch16 << 48) | done << 32 | failed << 16 | slow
    std::atomic<std::int64_t> rejected_{0};
    std::atomic<std::int64_t> trips_{0};
    std::mutex transition_mutex_;
};

} // namespace detail
} // namespace bulwark

#include <bulwark/policy/detail/breaker_core_impl.hpp>
