#pragma once
/// \file
/// `hedge`: starts extra attempts of a slow call and keeps the first success (Polly v8's
/// hedging strategy, gRPC A6's hedgingPolicy, Envoy's hedge_on_per_try_timeout).
///
/// ```cpp
/// auto client = bulwark::pipeline{bulwark::timeout{.total = 2s},
///                                 bulwark::hedge{.max_hedged_attempts = 2, .delay = 50ms},
///                                 bulwark::timeout{.per_attempt = 500ms}};
/// auto user = co_await client.async_execute(fetch_user);   // the coroutine driver hedges
/// ```

#include <bulwark/core/context.hpp>
#include <bulwark/core/error.hpp>
#include <bulwark/core/policy.hpp>
#include <bulwark/detail/validate.hpp>
#include <bulwark/policy/detail/hedge_core.hpp>
#include <bulwark/runtime/any_clock.hpp>

#include <chrono>
#include <cstdint>
#include <string>

namespace bulwark {

/// Hedged attempts: up to `1 + max_hedged_attempts` attempts of the inner call; the first
/// success wins and the others are cancelled through their stop tokens.
///
/// Modes, by `delay` (Polly v8): **latency** (`delay > 0`): start another attempt each time
/// `delay` passes without a success; **parallel** (`delay == 0`): start all attempts at once;
/// **fallback** (`delay < 0`): start the next attempt only when the previous ones failed. In
/// every mode a failed attempt starts the next one at once (gRPC A6), and no attempt starts
/// once the call is stopped or past its deadline.
///
/// **The drivers differ, honestly:** only the coroutine driver (`async_execute`) runs attempts
/// concurrently — each on its own child context (`context(context::child, parent)`, attempt
/// number `parent + i`), losers stopped through their tokens and awaited before the call
/// returns. The synchronous driver has no second thread to race on, so whatever the delay it
/// runs the fallback mode: attempts one after another while they fail.
///
/// **Failure semantics:** a failure is what `default_classifier` says; when every attempt
/// fails, the last failure to arrive is returned. **Time and cancellation:** the caller's stop
/// and deadline reach every attempt; hedge sets no deadline of its own (put a total timeout
/// outside it and a per-attempt timeout inside). **Thread safety:** stateless; attempts may
/// finish on other threads (timers, transports). **Allocation:** sync: none; coroutine: the
/// attempt slots, contexts' stop sources, frames and timers.
struct hedge {
    static constexpr policy_kind kind = policy_kind::hedge;

    std::uint32_t max_hedged_attempts = 1;    ///< extra attempts, 1..10 (Polly v8 default 1)
    duration delay = std::chrono::seconds{2}; ///< latency mode delay (Polly v8 default 2 s)
    any_clock clock{};                        ///< real time by default; `.clock = manual` in tests
    /// Validates at construction (throws `invalid_argument_error`). Leave it out of initializers.
    [[no_unique_address]] detail::settings_check validated{this};

    /// Throws `invalid_argument_error` unless `max_hedged_attempts` is in [1, 10] (called at
    /// construction). Any `delay` is valid: its sign chooses the mode.
    void validate() const {
        detail::require(max_hedged_attempts >= 1 && max_hedged_attempts <= 10, "hedge",
                        "max_hedged_attempts", "in [1, 10] (Polly v8's range)",
                        max_hedged_attempts);
    }

    /// Sync driver: attempts one after another while they fail (see above).
    template <class Next>
    next_result_t<Next> execute(Next&& next, context& ctx) const {
        return detail::hedge_core::run(next, ctx, max_hedged_attempts + 1, clock);
    }
    /// Coroutine driver: concurrent hedged attempts on child contexts (see above).
    template <class Next>
    next_result_t<Next> async_execute(Next&& next, context& ctx) const {
        return detail::hedge_core::run_async(next, ctx, max_hedged_attempts + 1, delay, clock);
    }
};

static_assert(async_policy<hedge>);

} // namespace bulwark
