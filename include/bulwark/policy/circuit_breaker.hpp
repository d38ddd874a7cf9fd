#pragma once
/// \file
/// `circuit_breaker`: stops calling a dependency that keeps failing, after resilience4j
/// (count/time sliding windows, failure-rate and slow-call-rate thresholds, minimum calls,
/// half-open trial window, forced-open / disabled / metrics-only states) plus the
/// consecutive-failures mode that Polly v8 users miss.
///
/// ```cpp
/// bulwark::circuit_breaker breaker{{.window = bulwark::count_window{100},
///                                   .failure_rate = 0.5, .minimum_calls = 20,
///                                   .open_for = 30s, .half_open_calls = 3}};
/// auto client = bulwark::pipeline{std::ref(breaker)};
/// auto out = client.try_execute(call);   // errc::circuit_open + retry_after when open
/// ```

#include <bulwark/core/classify.hpp>
#include <bulwark/core/context.hpp>
#include <bulwark/core/outcome.hpp>
#include <bulwark/core/policy.hpp>
#include <bulwark/observe/listener.hpp>
#include <bulwark/policy/circuit_breaker/options.hpp>
#include <bulwark/policy/circuit_breaker/state_machine.hpp>
#include <bulwark/policy/circuit_breaker/window.hpp>
#include <bulwark/runtime/task.hpp>

#include <memory>
#include <type_traits>
#include <utility>

namespace bulwark {

/// The default listener: no hooks, compiles to nothing (`bulwark::null_listener`).
using no_breaker_listener = null_listener;

/// A breaker listener hears the events of <bulwark/observe/events.hpp> it overloads `on` for
/// (`breaker_state_changed` with the window that caused it, `breaker_rejected`, `breaker_call`).
/// The older hooks still work: `void on_state_change(breaker_state from, breaker_state to)` and
/// `void on_rejected(breaker_state state, duration retry_after)`.
/// Hooks run on the calling thread, outside the breaker's lock; they must be thread-safe.
template <class L>
concept breaker_listener = std::is_object_v<L> && std::is_move_constructible_v<L>;

/// A circuit breaker with a compile-time classifier and listener (see `circuit_breaker`).
///
/// **Failure semantics:** a rejected call is not run; it returns `outcome` with
/// `errc::circuit_open` and `retry_after` = the time left in the open state (0 when unknown:
/// forced open, or all half-open trial calls taken). No exception, no allocation.
/// The classifier decides what counts as a failure (`failure_if`, `ignore_if`, ...).
/// **Time and cancellation:** open -> half-open happens on the first call after `open_for`;
/// slow calls are timed on `options.clock` (only when `slow_call_duration` is set).
/// **Thread safety:** all members are thread-safe. Admission on the closed path is one atomic
/// load; half-open admits exactly `half_open_calls` callers (a CAS on the permit count).
/// **Allocation:** the state at construction (one block, plus the window); none per call.
/// **Complexity:** O(1) per call.
template <class Classifier = default_classifier, breaker_listener Listener = no_breaker_listener>
class basic_circuit_breaker {
public:
    static constexpr policy_kind kind = policy_kind::circuit_breaker;

    /// Throws `invalid_argument_error` for settings out of range.
    explicit basic_circuit_breaker(const circuit_breaker_options& options,
                                   Classifier classifier = {}, Listener listener = {})
        : core_(std::make_unique<detail::breaker_core>(options))
        , classifier_(std::move(classifier))
        , listener_(std::move(listener)) {}

    /// Moves the state (the moved-from breaker must not be used again, except to assign to).
    basic_circuit_breaker(basic_circuit_breaker&&) noexcept = default;
    basic_circuit_breaker& operator=(basic_circuit_breaker&&) noexcept = default;

    /// Runs `next(ctx)` if the breaker admits the call, and records its outcome.
    template <class Next>
    next_result_t<Next> execute(Next&& next, context& ctx) {
        const detail::breaker_permit permit = admit();
        if (!permit.admitted) [[unlikely]]
            return reject(permit);
        const time_point start = core_->times_calls() ? core_->now() : time_point{};
        next_result_t<Next> out = call_guarded(next, ctx, permit, start);
        complete(permit, out, start, core_->record_time(ctx));
        return out;
    }

    /// The coroutine driver: the same state core, awaiting `next(ctx)`.
    template <class Next>
    next_result_t<Next> async_execute(Next&& next, context& ctx) {
        const detail::breaker_permit permit = admit();
        if (!permit.admitted)
            co_return reject(permit);
        const time_point start = core_->times_calls() ? core_->now() : time_point{};
        try {
            auto out = co_await next(ctx);
            complete(permit, out, start, core_->record_time(ctx));
            co_return out;
        } catch (...) {
            record(permit, true, false, start);
            throw;
        }
    }

    /// The current state.
    breaker_state state() const noexcept { return core_->state(); }
    /// Counts of the window and the breaker, read without stopping callers.
    breaker_metrics metrics() const noexcept { return core_->metrics(); }

    /// Rejects every call until `reset()` (resilience4j FORCED_OPEN, Polly Isolate).
    void isolate() { settle(core_->transition_to(breaker_state::forced_open)); }
    /// Same as `isolate()`.
    void force_open() { isolate(); }
    /// Lets every call through and records nothing (resilience4j DISABLED).
    void disable() { settle(core_->transition_to(breaker_state::disabled)); }
    /// Lets every call through and records outcomes, never opening (resilience4j METRICS_ONLY).
    void metrics_only() { settle(core_->transition_to(breaker_state::metrics_only)); }
    /// Back to closed with an empty window and no trip history (Polly Close, resilience4j reset).
    void reset() { settle(core_->transition_to(breaker_state::closed)); }
    /// Opens now, as if the thresholds had tripped (the open time then elapses as usual).
    void trip() { settle(core_->transition_to(breaker_state::open)); }

    /// The listener (to read what it collected).
    Listener& listener() noexcept { return listener_; }
    /// The classifier.
    const Classifier& classifier() const noexcept { return classifier_; }

private:
    detail::breaker_permit admit() noexcept {
        detail::breaker_permit p = core_->acquire();
        if constexpr (has_state_hook)
            if (p.transition.happened) [[unlikely]]
                settle(p.transition);
        return p;
    }

    failure reject(const detail::breaker_permit& p) {
        if constexpr (requires { listener_.on_rejected(breaker_state{}, duration{}); })
            listener_.on_rejected(detail::breaker_core::state_of(p.word), p.retry_after);
        bulwark::emit(listener_, events::breaker_rejected{detail::breaker_core::state_of(p.word),
                                                          p.retry_after});
        return failure{errc::circuit_open, {}, p.retry_after};
    }

    template <class Next>
    next_result_t<Next> call_guarded(Next& next, context& ctx, const detail::breaker_permit& p,
                                     time_point start) {
        // next(ctx) returns an outcome, so it should not throw; if a user policy inside does,
        // the permit is still settled (a failure, as resilience4j records exceptions).
        try {
            return next(ctx);
        } catch (...) {
            record(p, true, false, start);
            throw;
        }
    }

    /// `at`: the time to record the call at (breaker_core::record_time).
    template <class Out>
    void complete(const detail::breaker_permit& p, const Out& out, time_point start,
                  time_point at) {
        constexpr bool usable = classifier_for<Classifier, typename Out::value_type>;
        static_assert(usable,
                      "bulwark::circuit_breaker: the classifier must be callable as "
                      "verdict(const bulwark::outcome<R>&) for the operation's result R; "
                      "use bulwark::failure_if(pred) / ignore_if(pred) to classify by value");
        if constexpr (usable) {
            const verdict v = classifier_(out);
            record(p, v == verdict::failure, v == verdict::ignore, start, at);
        }
    }

    void record(const detail::breaker_permit& p, bool failed, bool ignored, time_point start,
                time_point at = {}) {
        bulwark::emit(listener_, events::breaker_call{failed    ? events::call_kind::failed
                                                      : ignored ? events::call_kind::ignored
                                                                : events::call_kind::successful});
        settle(core_->record(p, failed, ignored, start, at));
    }

    void settle(const breaker_transition& t) {
        if constexpr (has_state_hook) {
            if (t.happened) [[unlikely]] {
                if constexpr (requires { listener_.on_state_change(t.from, t.to); })
                    listener_.on_state_change(t.from, t.to);
                if constexpr (hears<Listener, events::breaker_state_changed>) {
                    const window_snapshot w = core_->last_cause();
                    bulwark::emit(listener_,
                                  events::breaker_state_changed{t.from, t.to, w.failure_rate(),
                                                                w.slow_rate(), w.calls});
                }
            }
        }
    }

    static constexpr bool has_state_hook = requires(Listener & l) {
        l.on_state_change(breaker_state{}, breaker_state{});
    }
    || hears<Listener, events::breaker_state_changed>;

    std::unique_ptr<detail::breaker_core> core_;
    [[no_unique_address]] Classifier classifier_;
    [[no_unique_address]] Listener listener_;
};

template <class Classifier, class Listener>
basic_circuit_breaker(const circuit_breaker_options&, Classifier, Listener)
    -> basic_circuit_breaker<Classifier, Listener>;
template <class Classifier>
basic_circuit_breaker(const circuit_breaker_options&, Classifier)
    -> basic_circuit_breaker<Classifier>;

/// The circuit breaker with the default classifier and no listener:
/// `bulwark::circuit_breaker{{.window = bulwark::count_window{100}, .failure_rate = 0.5}}`.
using circuit_breaker = basic_circuit_breaker<>;

static_assert(sizeof(circuit_breaker) == sizeof(void*), "the default breaker is one pointer");
static_assert(async_policy<circuit_breaker>);

} // namespace bulwark
