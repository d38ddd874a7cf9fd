#pragma once
/// \file
/// `detail::breaker_core`: the breaker's state machine (closed / open / half-open), shared by
/// `basic_circuit_breaker` and `breaker_set`. Machinery, no public name: the public names are in
/// `options.hpp`.

#include <bulwark/detail/coarse_clock.hpp>
#include <bulwark/detail/validate.hpp>
#include <bulwark/policy/circuit_breaker/options.hpp>
#include <bulwark/policy/circuit_breaker/window_core.hpp>
#include <bulwark/runtime/call_time.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <variant>

namespace bulwark {

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
    /// `start` is when the call began (read only when calls are timed); `at` is the time to
    /// record it at (`record_time`; zero: the core reads its clock if it needs a time).
    breaker_transition record(const breaker_permit& p, bool failed, bool ignored, time_point start,
                              time_point at = {}) noexcept {
        // The success path of a healthy breaker writes nothing: a success into a count window
        // full of successes, or after a success in consecutive mode, changes no state.
        if (!failed && !ignored && success_changes_nothing(p)) [[likely]]
            return {};
        return record_slow(p, failed, ignored, start, at);
    }

    /// The time a time window records a call of `ctx` at: the call's shared clock reading
    /// (runtime/call_time.hpp: taken by the first time-based policy of the call, so usually no
    /// clock read here). Zero for the other windows, and for timed calls (they read their end).
    time_point record_time(context& ctx) const noexcept {
        if (window_kind_ != kind::time || slow_after_ > duration::zero())
            return {};
        return call_now(ctx, clock_, true);
    }

    bool times_calls() const noexcept { return slow_after_ > duration::zero(); }
    time_point now() const noexcept { return clock_.now(); }
    breaker_state state() const noexcept {
        return state_of(state_.load(std::memory_order_acquire));
    }
    breaker_metrics metrics() noexcept;
    breaker_transition transition_to(breaker_state to) noexcept;
    /// The window (calls, failures, slow calls) that decided the most recent transition; empty
    /// for a manual one. Cold: takes the transition mutex.
    window_snapshot last_cause() noexcept {
        std::lock_guard lock(transition_mutex_);
        return last_cause_;
    }

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
                                   time_point start, time_point at) noexcept;
    breaker_transition record_window(const breaker_permit& p, bool failed, bool slow,
                                     time_point end) noexcept;
    breaker_transition record_half_open(const breaker_permit& p, bool failed, bool slow,
                                        bool ignored) noexcept;
    /// Moves from the state word `from` to `to` if it is still current (under the mutex);
    /// `cause` is the window that decided it (kept for the listener, see `last_cause`).
    breaker_transition move(std::uint64_t from, breaker_state to,
                            const window_snapshot& cause = {}) noexcept;
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
    std::atomic<std::int64_t> total_trips_{0}; ///< never reset (metrics only)
    std::mutex transition_mutex_;
    window_snapshot last_cause_{}; ///< the window behind the last transition (under the mutex)
};

} // namespace detail
} // namespace bulwark

// ---- definitions ----

namespace bulwark::detail {

/// Validates every setting through `require` (one message style). The bounds keep every
/// derived number in range: a count window allocates one byte per call (2^24 = 16 MB at most), a
/// time window one bucket per second (a day at most), half-open results are packed in 16-bit
/// fields (65535 trial calls at most), and the growing open time is computed in floating point
/// and clamped to `max_open_for` (see `open_time`), so no multiplier overflows.
inline void check_breaker_options(const circuit_breaker_options& o) {
    constexpr std::string_view who = "circuit_breaker";
    if (const auto* c = std::get_if<count_window>(&o.window)) {
        detail::require(c->size >= 1 && c->size <= (std::int64_t{1} << 24), who,
                        "count_window size", "in [1, 2^24]", c->size);
    } else {
        const auto& t = std::get<time_window>(o.window);
        detail::require(t.seconds >= 1 && t.seconds <= 86400, who, "time_window seconds",
                        "in [1, 86400]", t.seconds);
    }
    detail::require(o.failure_rate > 0.0 && o.failure_rate <= 1.0, who, "failure_rate", "in (0, 1]",
                    o.failure_rate);
    detail::require(o.slow_call_rate > 0.0 && o.slow_call_rate <= 1.0, who, "slow_call_rate",
                    "in (0, 1]", o.slow_call_rate);
    if (o.slow_call_duration)
        detail::require(*o.slow_call_duration > duration::zero(), who, "slow_call_duration",
                        "> 0 (or unset)", *o.slow_call_duration);
    detail::require(o.minimum_calls >= 1, who, "minimum_calls", ">= 1", o.minimum_calls);
    detail::require(o.consecutive_failures >= 0, who, "consecutive_failures",
                    ">= 0 (0 = rate mode)", o.consecutive_failures);
    detail::require(o.open_for >= duration::zero(), who, "open_for", ">= 0", o.open_for);
    detail::require(o.open_multiplier >= 1.0 && std::isfinite(o.open_multiplier), who,
                    "open_multiplier", ">= 1 and finite", o.open_multiplier);
    detail::require(o.max_open_for >= o.open_for, who, "max_open_for", ">= open_for",
                    o.max_open_for);
    detail::require(o.half_open_calls >= 1 && o.half_open_calls <= 0xffff, who, "half_open_calls",
                    "in [1, 65535]", o.half_open_calls);
    detail::require(o.max_wait_in_half_open >= duration::zero(), who, "max_wait_in_half_open",
                    ">= 0 (0 = wait forever)", o.max_wait_in_half_open);
}

inline breaker_core::breaker_core(const circuit_breaker_options& o)
    : state_(make_word(0, breaker_state::closed))
    , clock_(o.clock)
    , failure_rate_(o.failure_rate)
    , slow_rate_(o.slow_call_rate)
    , minimum_calls_(o.minimum_calls)
    , consecutive_threshold_(o.consecutive_failures)
    , half_open_calls_(o.half_open_calls)
    , open_for_(o.open_for)
    , max_open_for_(o.max_open_for)
    , max_wait_half_open_(o.max_wait_in_half_open)
    , open_multiplier_(o.open_multiplier) {
    check_breaker_options(o);
    slow_after_ = o.slow_call_duration.value_or(duration::zero());
    if (consecutive_threshold_ > 0) {
        window_kind_ = kind::consecutive;
        fast_ = slow_after_ > duration::zero() ? fast_success::none : fast_success::consecutive;
    } else if (const auto* c = std::get_if<count_window>(&o.window)) {
        window_kind_ = kind::count;
        fast_ = slow_after_ > duration::zero() ? fast_success::none : fast_success::count;
        count_.emplace(c->size);
        minimum_calls_ = std::min(minimum_calls_, c->size); // resilience4j clamps it too
    } else {
        window_kind_ = kind::time;
        time_.emplace(std::get<time_window>(o.window).seconds);
    }
}

inline breaker_permit breaker_core::acquire_slow() noexcept {
    breaker_transition caused{};
    for (;;) {
        std::uint64_t w = state_.load(std::memory_order_acquire);
        breaker_state s = state_of(w);
        if (s == breaker_state::closed || s == breaker_state::metrics_only ||
            s == breaker_state::disabled) [[likely]]
            return {w, true, {}, caused};
        if (s == breaker_state::forced_open) {
            rejected_.fetch_add(1, std::memory_order_relaxed);
            return {w, false, duration::zero(), caused};
        }
        time_point t = clock_.now();
        if (s == breaker_state::open) {
            // Open -> half-open happens lazily on the first call after the open time (Polly and
            // resilience4j without automaticTransitionFromOpenToHalfOpen): no background timer.
            time_point until{duration{open_until_.load(std::memory_order_acquire)}};
            if (t < until) {
                rejected_.fetch_add(1, std::memory_order_relaxed);
                return {w, false, until - t, caused};
            }
            if (breaker_transition tr = move(w, breaker_state::half_open); tr.happened)
                caused = tr;
            continue; // admitted as a trial call, or rejected if the trials are taken
        }
        // half-open
        if (max_wait_half_open_ > duration::zero() &&
            t - time_point{duration{half_open_since_.load(std::memory_order_acquire)}} >=
                max_wait_half_open_) {
            breaker_transition tr = move(w, breaker_state::open);
            if (!tr.happened)
                continue; // someone else moved it; read the new state
            rejected_.fetch_add(1, std::memory_order_relaxed);
            time_point until{duration{open_until_.load(std::memory_order_acquire)}};
            return {w, false, std::max(until - t, duration::zero()), tr};
        }
        // Exactly half_open_calls permits per half-open epoch: a CAS on (epoch, issued), so a
        // caller that read a stale state cannot take a permit of the next trial.
        std::uint64_t a = ho_admit_.load(std::memory_order_acquire);
        for (;;) {
            if ((a >> 32) != (epoch_of(w) & 0xffffffffu))
                break; // the state moved on: read it again
            if (static_cast<std::int64_t>(a & 0xffffffffu) >= half_open_calls_) {
                rejected_.fetch_add(1, std::memory_order_relaxed);
                return {w, false, duration::zero(), caused};
            }
            if (ho_admit_.compare_exchange_weak(a, a + 1, std::memory_order_acq_rel))
                return {w, true, {}, caused};
        }
    }
}

inline breaker_transition breaker_core::record_slow(const breaker_permit& p, bool failed,
                                                    bool ignored, time_point start,
                                                    time_point at) noexcept {
    breaker_state s = state_of(p.word);
    if (s == breaker_state::disabled)
        return {};
    time_point end = at;
    bool slow = false;
    if (slow_after_ > duration::zero()) {
        end = clock_.now();
        slow = !ignored && end - start >= slow_after_;
    }
    if (s == breaker_state::half_open)
        return record_half_open(p, failed, slow, ignored);
    if (ignored)
        return {};
    if (window_kind_ == kind::consecutive) {
        if (!failed) {
            if (consecutive_.load(std::memory_order_relaxed) != 0)
                consecutive_.store(0, std::memory_order_relaxed);
            return {};
        }
        std::int64_t n = consecutive_.fetch_add(1, std::memory_order_relaxed) + 1;
        if (s == breaker_state::closed && n >= consecutive_threshold_)
            return move(p.word, breaker_state::open, {n, n, 0});
        return {};
    }
    // A success into a count window full of successes changes nothing: skip every write.
    if (!failed && !slow && window_kind_ == kind::count && count_->full_of_successes()) [[likely]]
        return {};
    return record_window(p, failed, slow, end);
}

inline breaker_transition breaker_core::record_window(const breaker_permit& p, bool failed,
                                                      bool slow, time_point end) noexcept {
    if (state_.load(std::memory_order_acquire) != p.word)
        return {}; // admitted before a transition: not part of this window
    std::uint8_t bits = outcome_bits(failed, slow);
    window_snapshot w;
    if (window_kind_ == kind::count) {
        count_->record(bits);
        w = count_->snapshot();
    } else {
        // Buckets are a second wide: the call's shared reading (runtime/call_time.hpp, passed
        // by the breaker as `end`), or the coarse clock (~3 ns, a few ms behind, never ahead),
        // is exact enough here, where the exact one costs ~20 ns on every call.
        if (end == time_point{})
            end = coarse_now_if(clock_, true);
        if (!time_->record(bits, end)) [[likely]]
            return {}; // a success into a window without failures or slow calls: no rate moved
        w = time_->totals();
    }
    // resilience4j checks after every recorded call: open when the window holds at least
    // minimum_calls and either rate reaches its threshold.
    if (state_of(p.word) == breaker_state::closed && w.calls >= minimum_calls_ &&
        (w.failure_rate() >= failure_rate_ ||
         (slow_after_ > duration::zero() && w.slow_rate() >= slow_rate_)))
        return move(p.word, breaker_state::open, w);
    return {};
}

inline breaker_transition breaker_core::record_half_open(const breaker_permit& p, bool failed,
                                                         bool slow, bool ignored) noexcept {
    const std::uint64_t tag = epoch_of(p.word) & 0xffff;
    if (ignored) {
        // An ignored trial call gives its permit back (resilience4j releasePermission).
        std::uint64_t a = ho_admit_.load(std::memory_order_acquire);
        while ((a >> 32) == (epoch_of(p.word) & 0xffffffffu) && (a & 0xffffffffu) != 0 &&
               !ho_admit_.compare_exchange_weak(a, a - 1, std::memory_order_acq_rel)) {
        }
        return {};
    }
    std::uint64_t r = ho_results_.load(std::memory_order_acquire);
    std::uint64_t next;
    do {
        if ((r >> 48) != tag)
            return {}; // this trial is over
        next =
            r + (std::uint64_t{1} << 32) + (failed ? std::uint64_t{1} << 16 : 0) + (slow ? 1 : 0);
    } while (!ho_results_.compare_exchange_weak(r, next, std::memory_order_acq_rel));
    const auto done = static_cast<std::int64_t>((next >> 32) & 0xffff);
    const auto failures = static_cast<std::int64_t>((next >> 16) & 0xffff);
    const auto slows = static_cast<std::int64_t>(next & 0xffff);
    const window_snapshot trial{done, failures, slows};
    if (window_kind_ == kind::consecutive && failed)
        return move(p.word, breaker_state::open, trial); // one failed probe reopens (Polly)
    if (done < half_open_calls_)
        return {};
    // The trial calls are judged together as one window (resilience4j).
    const double n = static_cast<double>(done);
    bool bad =
        window_kind_ == kind::consecutive
            ? false
            : (static_cast<double>(failures) / n >= failure_rate_ ||
               (slow_after_ > duration::zero() && static_cast<double>(slows) / n >= slow_rate_));
    return move(p.word, bad ? breaker_state::open : breaker_state::closed, trial);
}

inline duration breaker_core::open_time(std::int64_t trips) const noexcept {
    if (open_multiplier_ == 1.0 || trips <= 1)
        return std::min(open_for_, max_open_for_);
    double scaled = static_cast<double>(open_for_.count()) *
                    std::pow(open_multiplier_, static_cast<double>(trips - 1));
    if (!(scaled < static_cast<double>(max_open_for_.count())))
        return max_open_for_;
    return duration{static_cast<duration::rep>(scaled)};
}

inline breaker_transition breaker_core::move(std::uint64_t from, breaker_state to,
                                             const window_snapshot& cause) noexcept {
    std::lock_guard lock(transition_mutex_);
    breaker_transition t = move_locked(from, to);
    if (t.happened)
        last_cause_ = cause;
    return t;
}

inline breaker_transition breaker_core::move_locked(std::uint64_t from, breaker_state to) noexcept {
    const std::uint64_t cur = state_.load(std::memory_order_acquire);
    if (cur != from)
        return {}; // another caller moved it first
    const std::uint64_t epoch = epoch_of(cur) + 1;
    const time_point t = clock_.now();
    // Prepare the target state's data before publishing the word (release) that admits callers.
    switch (to) {
    case breaker_state::open: {
        std::int64_t trips = trips_.fetch_add(1, std::memory_order_relaxed) + 1;
        total_trips_.fetch_add(1, std::memory_order_relaxed);
        open_until_.store(saturating_add(t, open_time(trips)).time_since_epoch().count(),
                          std::memory_order_release);
        break;
    }
    case breaker_state::half_open:
        half_open_since_.store(t.time_since_epoch().count(), std::memory_order_release);
        ho_results_.store((epoch & 0xffff) << 48, std::memory_order_release);
        ho_admit_.store((epoch & 0xffffffffu) << 32, std::memory_order_release);
        break;
    case breaker_state::closed:
    case breaker_state::metrics_only:
        // A fresh window, as resilience4j does when it moves to CLOSED.
        if (count_)
            count_->clear();
        if (time_)
            time_->clear();
        consecutive_.store(0, std::memory_order_relaxed);
        if (to == breaker_state::closed && state_of(cur) == breaker_state::half_open)
            trips_.store(0, std::memory_order_relaxed);
        break;
    default:
        break;
    }
    state_.store(make_word(epoch, to), std::memory_order_release);
    return {state_of(cur), to, true};
}

inline breaker_transition breaker_core::transition_to(breaker_state to) noexcept {
    std::lock_guard lock(transition_mutex_);
    const std::uint64_t cur = state_.load(std::memory_order_acquire);
    if (to == breaker_state::closed)
        trips_.store(0, std::memory_order_relaxed); // a manual reset forgets past trips
    if (state_of(cur) == to && to != breaker_state::closed)
        return {};
    last_cause_ = {};
    return move_locked(cur, to);
}

inline breaker_metrics breaker_core::metrics() noexcept {
    breaker_metrics m;
    m.state = state();
    if (window_kind_ != kind::consecutive)
        m.window = snapshot(clock_.now());
    m.consecutive_failures = consecutive_.load(std::memory_order_relaxed);
    m.rejected = rejected_.load(std::memory_order_relaxed);
    m.trips = trips_.load(std::memory_order_relaxed);
    m.total_trips = total_trips_.load(std::memory_order_relaxed);
    m.total_rejected = m.rejected;
    return m;
}

} // namespace bulwark::detail
