#pragma once
/// \file
/// `balance<Strategy>`: the load-balancing policy. It picks an endpoint of a registry into the
/// context, counts it outstanding, and records the latency and the outcome into the endpoint's
/// statistics and outlier detection; on a retry it avoids endpoints this call already tried.
///
/// ```cpp
/// bulwark::registry reg{{.address = "10.0.0.1:80"}, {.address = "10.0.0.2:80"}};
/// auto client = bulwark::pipeline{bulwark::retry{...},
/// bulwark::balance<bulwark::p2c_peak_ewma>{reg}}; client.execute([](bulwark::context& ctx) {
/// return call(ctx.endpoint()->address()); });
/// ```

#include <bulwark/balance/registry.hpp>
#include <bulwark/balance/strategy.hpp>
#include <bulwark/core/classify.hpp>
#include <bulwark/core/policy.hpp>

#include <algorithm>

#include <utility>

namespace bulwark {

/// Client-side load balancing over a registry, with strategy `Strategy`.
///
/// **Failure semantics:** with no ready endpoint the call fails with `errc::no_endpoint`
/// ("no endpoint available") without running the operation — distinct from a failure of an
/// endpoint, and not recorded against any endpoint. An outcome the classifier calls a failure
/// counts towards the endpoint's outlier ejection; `ignore` records nothing.
/// **Retries:** an outer retry calls again with the same context; the pick then avoids the
/// endpoints already tried (`ctx.was_tried`), unless every ready endpoint was tried.
/// **Thread safety:** thread-safe; share one between threads or pipelines (`std::ref`).
/// **Allocation:** none on the call path (the registry is read without a lock or allocation);
/// an ejection or the first pick after a registry change builds a snapshot or table (cold).
/// **Complexity:** the strategy's pick, two clock reads and two atomic counter updates.
template <balancing_strategy Strategy, class Classifier = default_classifier>
class balance {
public:
    static constexpr policy_kind kind = policy_kind::balance;

    /// Balances over `reg`, which must outlive the policy.
    explicit balance(registry& reg, Strategy strategy = {}, Classifier classifier = {})
        : reg_(&reg)
        , strategy_(std::move(strategy))
        , classifier_(std::move(classifier)) {}

    template <class Next>
    next_result_t<Next> execute(Next&& next, context& ctx) {
        const time_point start = reg_->clock().now();
        const endpoint* e = begin(ctx, start);
        if (e == nullptr) [[unlikely]]
            return next_result_t<Next>{errc::no_endpoint};
        in_flight guard{this, e, start};
        auto o = next(ctx);
        guard.v = classifier_(o);
        return o;
    }

    template <class Next>
    next_result_t<Next> async_execute(Next&& next, context& ctx) {
        const time_point start = reg_->clock().now();
        const endpoint* e = begin(ctx, start);
        if (e == nullptr)
            co_return typename next_result_t<Next>::value_type{errc::no_endpoint};
        in_flight guard{this, e, start};
        auto o = co_await next(ctx);
        guard.v = classifier_(o);
        co_return o;
    }

    /// Picks an endpoint for `ctx` at `now`, sets it as the context's endpoint and counts it
    /// outstanding; null when none is ready. Pair with `finish`. (The policy's own core, public
    /// for transports that drive balancing by hand.)
    const endpoint* begin(context& ctx, time_point now) {
        reg_->return_due(now);
        const endpoint* e;
        {
            const registry::reader r = reg_->read();
            e = strategy_.pick(r.set(), ctx, now);
            if (e != nullptr && ctx.tried_count() != 0 && ctx.was_tried(e)) [[unlikely]]
                e = avoid_tried(r.set(), ctx, now, e);
            if (e != nullptr)
                e->begin_request(); // before leaving the read section: keeps a removed one alive
        }
        ctx.set_endpoint(e);
        return e;
    }
    /// Records the end of a request begun with `begin` (latency since `start`, verdict) and
    /// ends its outstanding count. Never throws: if an ejection cannot publish its snapshot
    /// (out of memory), the ejection waits for the next failure.
    void finish(const endpoint* e, verdict v, time_point start) noexcept {
        try {
            const time_point end = reg_->clock().now();
            reg_->record(*e, v, end - start, end);
        } catch (...) {
        }
        e->end_request();
    }

    Strategy& strategy() noexcept { return strategy_; }
    registry& target() const noexcept { return *reg_; }

private:
    struct in_flight {
        balance* self;
        const endpoint* e;
        time_point start;
        verdict v = verdict::failure; // if the operation escaped with an exception
        in_flight(balance* s, const endpoint* ep, time_point t) noexcept
            : self(s)
            , e(ep)
            , start(t) {}
        in_flight(const in_flight&) = delete;
        ~in_flight() { self->finish(e, v, start); }
    };

    // Cold: the strategy returned an endpoint this call already tried. Ask again a couple of
    // times (random strategies move on), then take the first untried ready one, else keep it.
    const endpoint* avoid_tried(const endpoint_set& set, const context& ctx, time_point now,
                                const endpoint* e) {
        for (int i = 0; i < 2; ++i) {
            const endpoint* again = strategy_.pick(set, ctx, now);
            if (again != nullptr && !ctx.was_tried(again))
                return again;
        }
        auto untried =
            std::ranges::find_if(set.ready(), [&](const endpoint* x) { return !ctx.was_tried(x); });
        return untried != set.ready().end() ? *untried : e;
    }

    registry* reg_;
    [[no_unique_address]] Strategy strategy_;
    [[no_unique_address]] Classifier classifier_;
};

} // namespace bulwark
