#pragma once
/// \file
/// `standard_pipeline()`: the copyable preset of Microsoft.Extensions.Http.Resilience's
/// `AddStandardResilienceHandler` (Polly v8's standard order): concurrency limit → total timeout
/// → retry → circuit breaker → attempt timeout, with its documented defaults.
///
/// ```cpp
/// auto client = bulwark::standard_pipeline();                          // MEHR's defaults
/// auto tuned = bulwark::standard_pipeline({.total_timeout = 5s, .attempt_timeout = 1s,
///                                          .breaker = {.window = bulwark::time_window{10},
///                                                      .failure_rate = 0.2, .minimum_calls = 20,
///                                                      .open_for = 5s}});
/// ```

#include <bulwark/core/error.hpp>
#include <bulwark/detail/validate.hpp>
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/bulkhead.hpp>
#include <bulwark/policy/circuit_breaker.hpp>
#include <bulwark/policy/retry.hpp>
#include <bulwark/policy/retry/backoff.hpp>
#include <bulwark/policy/timeout.hpp>
#include <bulwark/runtime/any_clock.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace bulwark {

/// Settings of `standard_pipeline`. Every default is MEHR's standard handler's
/// (`HttpStandardResilienceOptions`), translated to bulwark's terms.
struct standard_options {
    /// MEHR's first stage is a *concurrency* limiter (1000 permits, queue 0): a bulkhead here.
    /// (Positional: g++ 12 -O3 warns "maybe uninitialized" on a designated nested default here.)
    bulkhead_options concurrency{1000, 0, duration::zero(), any_clock{}};
    /// MEHR TotalRequestTimeout: 30 s over all attempts.
    duration total_timeout = std::chrono::seconds{30};
    /// MEHR retries 3 times: 4 attempts in all (bulwark counts the first attempt).
    int max_attempts = 4;
    /// MEHR: exponential, 2 s base, with jitter (Polly's DecorrelatedJitterBackoffV2; bulwark
    /// uses the AWS decorrelated jitter it derives from). Capped by the total timeout anyway.
    exponential_backoff backoff{.base = std::chrono::seconds{2},
                                .multiplier = 2.0,
                                .cap = std::chrono::seconds{30},
                                .jitter = decorrelated_jitter};
    /// MEHR circuit breaker: failure ratio 0.1, minimum throughput 100, sampling duration 30 s,
    /// break duration 5 s; Polly v8 lets one probe through when half-open.
    circuit_breaker_options breaker{.window = time_window{30},
                                    .failure_rate = 0.1,
                                    .minimum_calls = 100,
                                    .open_for = std::chrono::seconds{5},
                                    .half_open_calls = 1};
    /// MEHR AttemptTimeout: 10 s per attempt.
    duration attempt_timeout = std::chrono::seconds{10};
    /// One clock for every stage (`.clock = manual` in tests); overrides the stages' own.
    std::optional<any_clock> clock{};
};

/// The pipeline type `standard_pipeline` returns.
using standard_pipeline_t =
    pipeline<bulkhead, total_timeout, retry, circuit_breaker, attempt_timeout>;

/// Builds the standard pipeline: bulkhead → total_timeout → retry → circuit_breaker →
/// attempt_timeout.
///
/// **Failure semantics:** throws `invalid_argument_error` for any stage's bad setting, and — as
/// MEHR's validator does — when the attempt timeout exceeds the total timeout, or when a
/// time-window breaker samples less than twice the attempt timeout (it could never see a
/// timed-out attempt within its window). Calls fail with `bulkhead_full`, `timeout`,
/// `circuit_open` or the last attempt's failure. **Thread safety:** the pipeline is shared by
/// concurrent calls. **Allocation:** the stages' state at construction; none per call on the
/// success path.
inline standard_pipeline_t standard_pipeline(const standard_options& o = {}) {
    detail::require(o.attempt_timeout <= o.total_timeout, "standard_pipeline", "attempt_timeout",
                    "<= total_timeout", o.attempt_timeout);
    // MEHR's rule: the window samples at least two attempt timeouts. Halve the window instead
    // of doubling the timeout, which overflows for a timeout near duration::max().
    if (const auto* tw = std::get_if<time_window>(&o.breaker.window); tw != nullptr)
        detail::require(o.attempt_timeout <= duration{std::chrono::seconds{tw->seconds}} / 2,
                        "standard_pipeline", "attempt_timeout",
                        "<= half the breaker's time window (MEHR's rule)", o.attempt_timeout);
    bulkhead_options concurrency = o.concurrency;
    circuit_breaker_options breaker = o.breaker;
    any_clock clock{};
    if (o.clock) {
        clock = *o.clock;
        concurrency.clock = clock;
        breaker.clock = clock;
    }
    return standard_pipeline_t{
        bulkhead{std::move(concurrency)},
        bulwark::total_timeout{.limit = o.total_timeout, .clock = clock},
        retry{.max_attempts = o.max_attempts, .backoff = o.backoff, .clock = clock},
        circuit_breaker{breaker},
        bulwark::attempt_timeout{.limit = o.attempt_timeout, .clock = clock},
    };
}

} // namespace bulwark
