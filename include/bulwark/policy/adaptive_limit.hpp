#pragma once
/// \file
/// `adaptive_limit`: a concurrency limit that follows measured latency — Netflix
/// concurrency-limits' `SimpleLimiter` over a `WindowedLimit`, with its AIMD, Gradient2 and
/// Vegas algorithms (`policy/adaptive_limit/{aimd,gradient2,vegas}.hpp`, each file cites the
/// formulas and defaults it uses).
///
/// ```cpp
/// bulwark::adaptive_limit<bulwark::vegas> limit{{.algorithm = {.initial = 20, .max = 500}}};
/// auto client = bulwark::pipeline{std::move(limit), bulwark::timeout{.total = 1s}};
/// ```
/// As the limit of a bulkhead (queueing up to `max_wait`, the limit moved by measured latency):
/// ```cpp
/// bulwark::bulkhead queue{{.max_concurrent = 20, .max_queued = 100, .max_wait = 50ms}};
/// bulwark::adaptive_limit<bulwark::gradient2> limit{{.drive = &queue}};
/// auto client = bulwark::pipeline{std::ref(queue), std::move(limit)};
/// ```

#include <bulwark/core/context.hpp>
#include <bulwark/core/error.hpp>
#include <bulwark/core/policy.hpp>
#include <bulwark/policy/adaptive_limit/aimd.hpp>
#include <bulwark/policy/adaptive_limit/gradient2.hpp>
#include <bulwark/policy/adaptive_limit/limiter.hpp>
#include <bulwark/policy/adaptive_limit/sample.hpp>
#include <bulwark/policy/adaptive_limit/vegas.hpp>
#include <bulwark/policy/bulkhead.hpp>
#include <bulwark/runtime/any_clock.hpp>

#include <memory>

namespace bulwark {

/// Settings of an `adaptive_limit<Algorithm>`.
template <limit_algorithm Algorithm>
struct adaptive_limit_options {
    typename Algorithm::options
        algorithm{};               ///< the algorithm's settings (its defaults: the source's)
    limit_window_options window{}; ///< how calls become samples
    /// A bulkhead whose `max_concurrent` this limit sets (then the bulkhead admits and queues,
    /// and this policy only measures; put it inside the bulkhead so queueing time is not
    /// counted as latency). Null: this policy admits by itself, rejecting at the limit.
    bulkhead* drive = nullptr;
    any_clock clock{}; ///< real time by default; `.clock = manual` in tests
};

/// A concurrency limit moved by measured latency (see the file comment).
///
/// **Failure semantics:** at the limit a call returns `errc::bulkhead_full` without running (it
/// is a concurrency limit; with `.drive` the bulkhead rejects or queues instead). A call that
/// ran is sampled by how it ended: a value or an error answer is a latency sample,
/// `errc::timeout` is a drop (the loss signal AIMD and Vegas read), `errc::cancelled` and a
/// thrown exception release the permit without a sample. Outcomes pass through unchanged.
/// **Time:** two clock reads per call (start, end), from `.clock`. **Thread safety:** all
/// calls may run concurrently; a lowered limit never cancels calls in flight, it only admits
/// fewer new ones. **Allocation:** the state at construction; none per call.
template <limit_algorithm Algorithm = vegas>
class adaptive_limit {
public:
    static constexpr policy_kind kind = policy_kind::bulkhead;
    using options = adaptive_limit_options<Algorithm>;

    /// Throws `invalid_argument_error` for bad algorithm or window settings.
    explicit adaptive_limit(options o = {})
        : state_(std::make_unique<adaptive_limiter<Algorithm>>(o.algorithm, o.window))
        , drive_(o.drive)
        , clock_(std::move(o.clock)) {
        if (drive_ != nullptr) {
            drive_->set_max_concurrent(state_->limit());
            unlimited_ = true;
        }
    }

    template <class Next>
    next_result_t<Next> execute(Next&& next, context& ctx) {
        std::optional<limit_permit> permit = acquire();
        if (!permit) [[unlikely]]
            return {errc::bulkhead_full};
        release_guard guard{*this, *permit};
        auto out = next(ctx);
        guard.how = classify(out);
        return out;
    }

    template <class Next>
    next_result_t<Next> async_execute(Next&& next, context& ctx) {
        std::optional<limit_permit> permit = acquire();
        if (!permit) [[unlikely]]
            co_return errc::bulkhead_full;
        release_guard guard{*this, *permit};
        auto out = co_await next(ctx);
        guard.how = classify(out);
        co_return out;
    }

    /// The current limit.
    std::size_t limit() const noexcept { return state_->limit(); }
    /// Calls in flight through this policy now.
    std::size_t inflight() const noexcept { return state_->inflight(); }
    /// The core, for callers that admit work outside a pipeline.
    adaptive_limiter<Algorithm>& limiter() noexcept { return *state_; }

private:
    struct release_guard {
        adaptive_limit& self;
        limit_permit permit;
        limit_outcome how = limit_outcome::ignored; // an exception leaves it: no sample
        ~release_guard() {
            self.state_->release(permit, self.clock_.now(), how);
            if (self.drive_ != nullptr && how != limit_outcome::ignored) {
                const std::size_t l = self.state_->limit();
                if (self.drive_->max_concurrent() != l) // rarely: once per window at most
                    self.drive_->set_max_concurrent(l);
            }
        }
    };

    std::optional<limit_permit> acquire() noexcept {
        if (unlimited_) {
            // The bulkhead admitted the call; this only measures (its own count never blocks).
            return state_->enter(clock_.now());
        }
        return state_->try_acquire(clock_.now());
    }

    template <class Out>
    static limit_outcome classify(const Out& out) noexcept {
        if (out.has_value())
            return limit_outcome::success;
        switch (out.code()) {
        case errc::timeout:
            return limit_outcome::dropped;
        case errc::cancelled:
        case errc::exception:
            return limit_outcome::ignored;
        default:
            return limit_outcome::success;
        }
    }

    std::unique_ptr<adaptive_limiter<Algorithm>> state_;
    bulkhead* drive_;
    bool unlimited_ = false;
    any_clock clock_;
};

static_assert(async_policy<adaptive_limit<vegas>>);

} // namespace bulwark
