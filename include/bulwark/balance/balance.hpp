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

#include <bulwark/balance/detail/endpoint_breakers.hpp>
#include <bulwark/balance/registry.hpp>
#include <bulwark/balance/strategy.hpp>
#include <bulwark/core/classify.hpp>
#include <bulwark/core/policy.hpp>
#include <bulwark/policy/breaker_set.hpp>

#include <algorithm>
#include <string>
#include <type_traits>
#include <utility>

namespace bulwark {

/// Client-side load balancing over a registry, with strategy `Strategy`, and optionally one
/// circuit breaker per endpoint (`Breakers`, a `breaker_set<std::string, B>` keyed by address).
///
/// **Failure semantics:** with no ready endpoint the call fails with `errc::no_endpoint`
/// ("no endpoint available") without running the operation — distinct from a failure of an
/// endpoint, and not recorded against any endpoint. An outcome the classifier calls a failure
/// counts towards the endpoint's outlier ejection; `ignore` records nothing.
/// **Per-endpoint breakers** (Finagle's FailureAccrual, Polly's breakers per authority): when
/// the picked endpoint's breaker rejects, the call does not fail — it is offered to another
/// ready endpoint of this call's choosing (the strategy's next pick avoiding those rejected,
/// then, if the strategy keeps offering rejected ones, each remaining ready endpoint in order),
/// so at most `tried_capacity + ready` admission checks. Only when every candidate's breaker
/// rejects does it fail with `errc::circuit_open` and the smallest positive `retry_after` among
/// them. The outcome of a call that ran is recorded in its breaker (by the breaker's own
/// classifier) and in the endpoint's statistics (by `Classifier`); a rejection records nothing.
/// Half-open probes happen through the breaker: after `open_for` its next admitted call is one.
/// **Retries:** an outer retry calls again with the same context; the pick then avoids the
/// endpoints already tried (`ctx.was_tried`, which includes those whose breaker rejected),
/// unless every ready endpoint was tried.
/// **Thread safety:** thread-safe; share one between threads or pipelines (`std::ref`).
/// **Allocation:** none on the call path (the registry is read without a lock or allocation;
/// an endpoint's breaker is found in a table built once per snapshot); an ejection or the first
/// pick after a registry change builds a snapshot or table (cold). The coroutine driver with
/// breakers adds one coroutine frame per attempt.
/// **Complexity:** the strategy's pick, two clock reads and two atomic counter updates; with
/// breakers, plus a binary search over the snapshot's endpoints and the breaker's admission.
template <balancing_strategy Strategy, class Classifier = default_classifier,
          class Breakers = no_endpoint_breakers>
class balance {
    static constexpr bool has_breakers = !std::is_same_v<Breakers, no_endpoint_breakers>;
    static_assert(!has_breakers || endpoint_breaker_set<Breakers>,
                  "bulwark::balance: Breakers must be a breaker_set<std::string, B> (a set whose "
                  "get(address) returns a stable breaker reference)");

public:
    static constexpr policy_kind kind = policy_kind::balance;

    /// Balances over `reg`, which must outlive the policy.
    explicit balance(registry& reg, Strategy strategy = {},
                     Classifier classifier = {}) requires(!has_breakers)
        : reg_(&reg)
        , strategy_(std::move(strategy))
        , classifier_(std::move(classifier)) {}
    /// Balances over `reg` with the breakers of `breakers` (by endpoint address); both must
    /// outlive the policy. Several balancers may share one set (the same service elsewhere).
    balance(registry& reg, Breakers& breakers, Strategy strategy = {},
            Classifier classifier = {}) requires has_breakers : reg_(&reg),
                                                                strategy_(std::move(strategy)),
                                                                classifier_(std::move(classifier)),
                                                                breakers_(breakers) {}

    template <class Next>
    next_result_t<Next> execute(Next&& next, context& ctx) {
        if constexpr (!has_breakers) {
            const time_point start = reg_->clock().now();
            const endpoint* e = begin(ctx, start);
            if (e == nullptr) [[unlikely]]
                return next_result_t<Next>{errc::no_endpoint};
            in_flight guard{this, e, start};
            auto o = next(ctx);
            guard.v = classifier_(o);
            return o;
        } else {
            detail::breaker_rejections rej;
            for (;;) {
                const time_point start = reg_->clock().now();
                const guarded_pick p = begin_guarded(ctx, start, rej);
                if (p.e == nullptr) [[unlikely]]
                    return next_result_t<Next>{none_admitted(rej), rej.retry_after};
                in_flight guard{this, p.e, start, false};
                auto call = [&](context& c) -> next_result_t<Next> {
                    guard.ran = true;
                    auto o = next(c);
                    guard.v = classifier_(o);
                    return o;
                };
                auto o = p.b->execute(call, ctx);
                if (guard.ran) [[likely]]
                    return o;
                rej.add(p.e, o.error().retry_after); // rejected: not run, nothing recorded
            }
        }
    }

    template <class Next>
    next_result_t<Next> async_execute(Next&& next, context& ctx) {
        using result = typename next_result_t<Next>::value_type;
        if constexpr (!has_breakers) {
            const time_point start = reg_->clock().now();
            const endpoint* e = begin(ctx, start);
            if (e == nullptr)
                co_return result{errc::no_endpoint};
            in_flight guard{this, e, start};
            auto o = co_await next(ctx);
            guard.v = classifier_(o);
            co_return o;
        } else {
            detail::breaker_rejections rej;
            for (;;) {
                const time_point start = reg_->clock().now();
                const guarded_pick p = begin_guarded(ctx, start, rej);
                if (p.e == nullptr)
                    co_return result{none_admitted(rej), rej.retry_after};
                in_flight guard{this, p.e, start, false};
                auto call = [&](context& c) -> next_result_t<Next> {
                    guard.ran = true;
                    auto o = co_await next(c);
                    guard.v = classifier_(o);
                    co_return o;
                };
                auto o = co_await p.b->async_execute(call, ctx);
                if (guard.ran)
                    co_return o;
                rej.add(p.e, o.error().retry_after);
            }
        }
    }

    /// Picks an endpoint for `ctx` at `now`, sets it as the context's endpoint and counts it
    /// outstanding; null when none is ready. Pair with `finish`. (The policy's own core, public
    /// for transports that drive balancing by hand; it does not consult the breakers.)
    const endpoint* begin(context& ctx, time_point now) {
        reg_->return_due(now);
        const endpoint* e;
        {
            const registry::reader r = reg_->read();
            e = pick(r.set(), ctx, now);
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
    /// The per-endpoint breakers (only with `Breakers`).
    Breakers& breakers() const noexcept requires has_breakers { return breakers_.set(); }

private:
    struct in_flight {
        balance* self;
        const endpoint* e;
        time_point start;
        bool ran = true;              // false while a breaker has not admitted the call
        verdict v = verdict::failure; // if the operation escaped with an exception
        in_flight(balance* s, const endpoint* ep, time_point t, bool r = true) noexcept
            : self(s)
            , e(ep)
            , start(t)
            , ran(r) {}
        in_flight(const in_flight&) = delete;
        ~in_flight() {
            if (ran)
                self->finish(e, v, start);
            else
                e->end_request(); // a breaker rejected it: not a request of the endpoint
        }
    };

    const endpoint* pick(const endpoint_set& set, const context& ctx, time_point now) {
        const endpoint* e = strategy_.pick(set, ctx, now);
        if (e != nullptr && ctx.tried_count() != 0 && ctx.was_tried(e)) [[unlikely]]
            e = avoid_tried(set, ctx, now, e);
        return e;
    }

    struct guarded_pick {
        const endpoint* e;
        typename std::conditional_t<has_breakers, Breakers, breaker_set<std::string>>::breaker_type*
            b;
    };
    // `begin` with breakers: the strategy's pick unless it offers an endpoint whose breaker
    // already rejected this call (or too many did to remember): then a sweep of the ready
    // endpoints in order, skipping the rejected ones — every ready endpoint gets its chance.
    guarded_pick begin_guarded(context& ctx, time_point now, detail::breaker_rejections& rej) {
        reg_->return_due(now);
        guarded_pick p{nullptr, nullptr};
        {
            const registry::reader r = reg_->read();
            const endpoint_set& set = r.set();
            if (!rej.sweeping) {
                p.e = pick(set, ctx, now);
                if (p.e != nullptr && rej.count != 0 &&
                    (rej.count >= rej.remembered || rej.was_rejected(p.e))) [[unlikely]]
                    rej.sweeping = true;
            }
            if (rej.sweeping) [[unlikely]] {
                p.e = nullptr;
                const auto ready = set.ready();
                while (p.e == nullptr && rej.sweep < ready.size())
                    if (const endpoint* x = ready[rej.sweep++]; !rej.was_rejected(x))
                        p.e = x;
            }
            if (p.e != nullptr) {
                p.b = &breakers_.of(set, p.e);
                p.e->begin_request();
            }
        }
        if (p.e != nullptr)
            ctx.set_endpoint(p.e);
        return p;
    }
    static errc none_admitted(const detail::breaker_rejections& rej) noexcept {
        return rej.count != 0 ? errc::circuit_open : errc::no_endpoint;
    }

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
    [[no_unique_address]] std::conditional_t<has_breakers, detail::endpoint_breakers<Breakers>,
                                             no_endpoint_breakers>
        breakers_;
};

template <endpoint_breaker_set Set, balancing_strategy S>
balance(registry&, Set&, S) -> balance<S, default_classifier, Set>;
template <endpoint_breaker_set Set, balancing_strategy S, class C>
balance(registry&, Set&, S, C) -> balance<S, C, Set>;

/// `balance` with a breaker per endpoint: `balance_with_breakers<p2c_peak_ewma>{reg, breakers}`.
template <balancing_strategy Strategy, class Breakers = breaker_set<std::string>,
          class Classifier = default_classifier>
using balance_with_breakers = balance<Strategy, Classifier, Breakers>;

} // namespace bulwark
