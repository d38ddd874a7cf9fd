#pragma once
/// \file
/// Retry budgets: caps on how many retries a client sends, so that retries cannot multiply the
/// load on a struggling service (a "retry storm"). Three models, as three types:
///
/// - `retry_budget` — Finagle `RetryBudget` / tower `TpsBudget`: a token bucket with a TTL.
/// - `concurrency_budget` — Envoy `retry_budget` / failsafe-go `Budget`: a cap on concurrent
///   retries relative to concurrent calls.
/// - `grpc_throttle` — gRPC A6 `retryThrottling`: tokens drained by failures.
///
/// Every budget is a **handle**: copies share one state, so one budget object — made once per
/// downstream service — can be given to every retry policy and pipeline that calls it:
/// ```cpp
/// bulwark::retry_budget users_budget{.ratio = 0.2, .min_per_second = 10};
/// auto a = bulwark::retry{.max_attempts = 3, .budget = users_budget};
/// auto b = bulwark::retry{.max_attempts = 5, .budget = users_budget}; // same bucket
/// ```
/// **Thread safety:** all members are thread-safe and lock-free. **Allocation:** one state
/// block at construction; none per call.

#include <bulwark/detail/validate.hpp>
#include <bulwark/policy/retry/budget_state.hpp>
#include <bulwark/policy/retry/jitter.hpp>
#include <bulwark/runtime/any_clock.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <variant>

namespace bulwark {

/// No budget: every retry the policy allows is sent (the default of `retry`).
struct no_retry_budget {};

/// Finagle/tower token bucket: every call deposits 1, every retry withdraws `1/ratio`;
/// deposits expire after `ttl` (10 slots of `ttl/10`); a reserve allows `min_per_second`
/// retries per second even without traffic. Defaults as Finagle and tower: 20 %, 10/s, 10 s.
///
/// **Failure semantics:** `ratio` other than 0 or in [1e-6, 1], `min_per_second` outside
/// [0, 1e6], `ttl` outside [1 s, 60 s] (tower's bounds), or NaN throw `invalid_argument_error`
/// at construction (`bulwark::retry_budget: ratio must be 0 or in [1e-6, 1] (got 2)`).
/// **Time:** a deposit made by `retry` uses the call's shared clock reading (one read per call
/// for the pipeline's time-based policies, runtime/call_time.hpp); a withdrawal reads `clock`.
/// **Complexity:** deposit O(1) (one CAS); withdraw O(10).
struct retry_budget {
    double ratio = 0.2;
    double min_per_second = 10;
    duration ttl = std::chrono::seconds{10};
    any_clock clock{};
    /// Not a setting: the shared bucket, made (and the settings checked) at construction.
    std::shared_ptr<detail::tps_budget_state> state = make_state();

    /// Records one call (done by `retry` at the start of each call).
    void deposit() const noexcept { state->deposit(); }
    /// Takes one retry from the bucket; false when the budget is spent.
    bool try_withdraw() const noexcept { return state->try_withdraw(); }
    /// How many retries the bucket would allow now.
    double balance() const noexcept { return state->balance(); }

private:
    std::shared_ptr<detail::tps_budget_state> make_state() const {
        // 1/ratio and min_per_second × ttl × 1/ratio become integers (thousandths of a deposit):
        // these bounds keep both far inside int64 (at most 1e9 and 6e16).
        detail::require(ratio == 0.0 || (ratio >= 1e-6 && ratio <= 1.0), "retry_budget", "ratio",
                        "0 or in [1e-6, 1]", ratio);
        detail::require(min_per_second >= 0.0 && min_per_second <= 1e6, "retry_budget",
                        "min_per_second", "in [0, 1e6]", min_per_second);
        detail::require(ttl >= std::chrono::seconds{1} && ttl <= std::chrono::seconds{60},
                        "retry_budget", "ttl", "in [1s, 60s]", ttl);
        return std::make_shared<detail::tps_budget_state>(ttl, min_per_second, ratio, clock);
    }
};

/// Envoy's retry budget: at most `max(min_concurrency, ratio × active calls)` retries in flight
/// at once (a retry is in flight from the decision to retry until its attempt ends). Defaults as
/// Envoy: 20 %, 3.
///
/// **Failure semantics:** `ratio` outside [0, 1] throws at construction.
/// **Complexity:** two atomic increments per call (enter and leave): the cost of the model.
struct concurrency_budget {
    double ratio = 0.2;
    std::uint32_t min_concurrency = 3;
    /// Not a setting: the shared counters, made (and the settings checked) at construction.
    std::shared_ptr<detail::concurrency_budget_state> state = make_state();

    std::int64_t active_calls() const noexcept { return state->active_calls(); }
    std::int64_t active_retries() const noexcept { return state->active_retries(); }

private:
    std::shared_ptr<detail::concurrency_budget_state> make_state() const {
        detail::require(ratio >= 0.0 && ratio <= 1.0, "concurrency_budget", "ratio", "in [0, 1]",
                        ratio);
        return std::make_shared<detail::concurrency_budget_state>(ratio, min_concurrency);
    }
};

/// gRPC A6 retry throttling: tokens start at `max_tokens`; each failed attempt takes 1, each
/// successful one returns `token_ratio`; no retry while tokens ≤ `max_tokens / 2`. Defaults are
/// A6's example (10, 0.1).
///
/// **Failure semantics:** `max_tokens` outside (0, 1000] or `token_ratio` outside
/// (0, max_tokens] (A6's bounds; a larger ratio refills the bucket in one success anyway) or NaN
/// throw at construction. **Complexity:** a load per successful attempt (a CAS only while
/// the bucket is below max).
struct grpc_throttle {
    double max_tokens = 10;
    double token_ratio = 0.1;
    /// Not a setting: the shared tokens, made (and the settings checked) at construction.
    std::shared_ptr<detail::grpc_throttle_state> state = make_state();

    double tokens() const noexcept { return state->tokens(); }

private:
    std::shared_ptr<detail::grpc_throttle_state> make_state() const {
        detail::require(max_tokens > 0.0 && max_tokens <= 1000.0, "grpc_throttle", "max_tokens",
                        "in (0, 1000]", max_tokens);
        detail::require(token_ratio > 0.0 && token_ratio <= max_tokens, "grpc_throttle",
                        "token_ratio", "in (0, max_tokens]", token_ratio);
        return std::make_shared<detail::grpc_throttle_state>(max_tokens, token_ratio);
    }
};

/// One of the budgets, chosen at run time: the `.budget` of `bulwark::retry` (none by default).
///
/// The retry policy drives it per call: `begin_call`, `record_attempt` after each attempt,
/// `try_begin_retry` before each retry (and `end_retry` once that retry's attempt is over),
/// `end_call`. **Complexity:** one branch on the kind per step; nothing else with no budget.
class any_retry_budget {
public:
    any_retry_budget() = default;
    any_retry_budget(no_retry_budget) noexcept {}
    any_retry_budget(retry_budget b) noexcept
        : kind_(std::move(b)) {}
    any_retry_budget(concurrency_budget b) noexcept
        : kind_(std::move(b)) {}
    any_retry_budget(grpc_throttle b) noexcept
        : kind_(std::move(b)) {}

    bool empty() const noexcept { return kind_.index() == 0; }
    /// The budget held, or null for another kind.
    template <class B>
    const B* get_if() const noexcept {
        return std::get_if<B>(&kind_);
    }

    void begin_call() const noexcept {
        if (auto* b = std::get_if<retry_budget>(&kind_))
            b->state->deposit();
        else if (auto* c = std::get_if<concurrency_budget>(&kind_))
            c->state->enter();
    }
    /// `begin_call` for a call of `ctx`: a `retry_budget` deposits at the call's shared clock
    /// reading (runtime/call_time.hpp) instead of reading the clock itself.
    void begin_call(context& ctx) const noexcept {
        if (auto* b = std::get_if<retry_budget>(&kind_))
            b->state->deposit(ctx);
        else if (auto* c = std::get_if<concurrency_budget>(&kind_))
            c->state->enter();
    }
    void end_call() const noexcept {
        if (auto* c = std::get_if<concurrency_budget>(&kind_))
            c->state->leave();
    }
    /// After each attempt (a retry's or not): `failed` is the classifier's verdict.
    void record_attempt(bool failed) const noexcept {
        if (auto* g = std::get_if<grpc_throttle>(&kind_))
            failed ? g->state->on_failure() : g->state->on_success();
    }
    bool try_begin_retry() const noexcept {
        switch (kind_.index()) {
        case 1:
            return std::get_if<retry_budget>(&kind_)->state->try_withdraw();
        case 2:
            return std::get_if<concurrency_budget>(&kind_)->state->try_begin_retry();
        case 3:
            return std::get_if<grpc_throttle>(&kind_)->state->allows_retry();
        default:
            return true;
        }
    }
    void end_retry() const noexcept {
        if (auto* c = std::get_if<concurrency_budget>(&kind_))
            c->state->end_retry();
    }

private:
    std::variant<no_retry_budget, retry_budget, concurrency_budget, grpc_throttle> kind_{};
};

} // namespace bulwark
