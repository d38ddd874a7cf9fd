#pragma once
/// \file
/// `balance<Strategy>`: the load-balancing policy. It picks an endpoint of a registry into the
/// context, counts it outstanding, and records the latency and the outcome into the endpoint's
/// statistics and outlier detection; on a retry it avoids endpoints this call already tried.
/// With per-endpoint breakers (policy/circuit_breaker/endpoint_breakers.hpp) each attempt also
/// goes through its endpoint's breaker.
///
/// ```cpp
/// bulwark::registry reg{{.address = "10.0.0.1:80"}, {.address = "10.0.0.2:80"}};
/// auto client = bulwark::pipeline{bulwark::retry{...},
///                                 bulwark::balance<bulwark::p2c_peak_ewma>{reg}};
/// client.execute([](bulwark::context& ctx) { return call(ctx.endpoint()->address()); });
/// ```

#include <bulwark/balance/endpoint.hpp>
#include <bulwark/balance/endpoint_set.hpp>
#include <bulwark/balance/registry.hpp>
#include <bulwark/balance/strategy.hpp>
#include <bulwark/core/classify.hpp>
#include <bulwark/core/policy.hpp>
#include <bulwark/observe/listener.hpp>
#include <bulwark/policy/circuit_breaker/endpoint_breakers.hpp>

#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace bulwark {

namespace detail {

/// What one call of a `balance` without breakers carries between attempts: nothing.
struct balance_call_plain {
    explicit balance_call_plain(const context&) noexcept {}
};

/// What one call of a `balance` with breakers carries while breakers reject (cold): the
/// endpoints to pass over and the smallest positive `retry_after` among the rejections.
struct balance_call_guarded {
    exclusion excluded;
    duration retry_after{};
    bool exhausted = false; // more rejections than `exclusion::capacity`

    explicit balance_call_guarded(const context& ctx) noexcept
        : excluded(ctx) {}
    void rejected(const endpoint* e, duration after) noexcept {
        exhausted = exhausted || !excluded.rule_out(e);
        if (after > duration::zero() && (retry_after == duration::zero() || after < retry_after))
            retry_after = after;
    }
};

// The breaker type and the member that finds breakers, named only when there are breakers.
template <class Breakers>
struct breakers_of {
    using breaker = typename Breakers::breaker_type;
    using lookup = endpoint_breakers<Breakers>;
};
template <>
struct breakers_of<no_endpoint_breakers> {
    using breaker = void;
    using lookup = no_endpoint_breakers;
};

} // namespace detail

/// Client-side load balancing over a registry, with strategy `Strategy`, and optionally one
/// circuit breaker per endpoint (`Breakers`, a `breaker_set<std::string, B>` keyed by address).
///
/// **Failure semantics:** with no ready endpoint the call fails with `errc::no_endpoint`
/// ("no endpoint available") without running the operation — distinct from a failure of an
/// endpoint, and not recorded against any endpoint. An outcome the classifier calls a failure
/// counts towards the endpoint's outlier ejection; `ignore` records nothing.
/// **Per-endpoint breakers** (Finagle's FailureAccrual, Polly's breakers per authority): when
/// the picked endpoint's breaker rejects, the call does not fail: that endpoint becomes
/// invisible for the rest of the call and the strategy picks again among the others — its own
/// choice (P2C samples two of the rest, round robin moves on, ring hash walks on), never list
/// order. So an endpoint whose breaker is open cannot attract traffic by looking idle: P2C
/// keeps sampling it (its cost looks lowest: it gets no traffic), but each such pick is
/// replaced by a fresh P2C pick over the others, which is exactly P2C over the others. Only
/// when every candidate's breaker rejects does the call fail with `errc::circuit_open` and the
/// smallest positive `retry_after` among them (a call checks at most `exclusion::capacity` =
/// 64 breakers). The outcome of a call that ran is recorded in its breaker (by the breaker's
/// classifier) and in the endpoint's statistics (by `Classifier`); a rejection records nothing.
/// Half-open probes happen through the breaker: after `open_for` its next admitted call is one.
/// **Retries:** an outer retry calls again with the same context; the strategy then picks among
/// the endpoints not tried yet (`ctx.was_tried`, which includes those whose breaker rejected),
/// unless every ready endpoint was tried.
/// **Thread safety:** thread-safe; share one between threads or pipelines (`std::ref`).
/// **Allocation:** none on the call path (the registry is read without a lock or allocation;
/// an endpoint's breaker is found in a table built once per snapshot); an ejection or the first
/// pick after a registry change builds a snapshot or table (cold); a re-pick by a user strategy
/// that is not an `excluding_strategy` filters a copy of the snapshot (cold). The coroutine
/// driver with breakers adds one coroutine frame per attempt.
/// **Complexity:** the strategy's pick, two clock reads and two atomic counter updates; with
/// breakers, plus a binary search over the snapshot's endpoints and the breaker's admission; a
/// re-pick is O(n) for P2C and random, and a walk for the others.
template <balancing_strategy Strategy, class Classifier = default_classifier,
          class Breakers = no_endpoint_breakers, class Listener = null_listener>
class balance {
    static constexpr bool has_breakers = !std::is_same_v<Breakers, no_endpoint_breakers>;
    static_assert(!has_breakers || endpoint_breaker_set<Breakers>,
                  "bulwark::balance: Breakers must be a breaker_set<std::string, B> (a set whose "
                  "get(address) returns a stable breaker reference)");
    using breaker_type = typename detail::breakers_of<Breakers>::breaker;
    using call_state =
        std::conditional_t<has_breakers, detail::balance_call_guarded, detail::balance_call_plain>;

public:
    static constexpr policy_kind kind = policy_kind::balance;

    /// Balances over `reg`, which must outlive the policy.
    explicit balance(registry& reg, Strategy strategy = {}, Classifier classifier = {},
                     Listener listener = {}) requires(!has_breakers)
        : reg_(&reg)
        , strategy_(std::move(strategy))
        , classifier_(std::move(classifier))
        , listener_(std::move(listener)) {}
    /// Balances over `reg` with the breakers of `breakers` (by endpoint address); both must
    /// outlive the policy. Several balancers may share one set (the same service elsewhere).
    balance(registry& reg, Breakers& breakers, Strategy strategy = {}, Classifier classifier = {},
            Listener listener = {}) requires has_breakers : reg_(&reg),
                                                            strategy_(std::move(strategy)),
                                                            classifier_(std::move(classifier)),
                                                            breakers_(breakers),
                                                            listener_(std::move(listener)) {}

    // The two drivers differ only in how they wait for `next`; claiming an endpoint (pick,
    // breaker lookup, outstanding count), recording the outcome (`in_flight`) and what a
    // rejection leaves for the next claim (`call_state`) are shared. Without breakers the loop
    // runs once and `call_state` is empty.
    template <class Next>
    next_result_t<Next> execute(Next&& next, context& ctx) {
        call_state call{ctx};
        for (;;) {
            const time_point start = reg_->clock().now();
            const claim c = claim_endpoint(ctx, start, call);
            if (c.e == nullptr) [[unlikely]]
                return none_admitted<next_result_t<Next>>(call);
            in_flight guard{this, c.e, start};
            if constexpr (!has_breakers) {
                auto o = next(ctx);
                guard.v = classifier_(o);
                return o;
            } else {
                auto o = c.b->execute(
                    [&](context& cx) -> next_result_t<Next> {
                        guard.ran = true;
                        auto out = next(cx);
                        guard.v = classifier_(out);
                        return out;
                    },
                    ctx);
                if (guard.ran) [[likely]]
                    return o;
                call.rejected(c.e, o.error().retry_after); // not run, nothing recorded
            }
        }
    }

    template <class Next>
    next_result_t<Next> async_execute(Next&& next, context& ctx) {
        using result = typename next_result_t<Next>::value_type;
        call_state call{ctx};
        for (;;) {
            const time_point start = reg_->clock().now();
            const claim c = claim_endpoint(ctx, start, call);
            if (c.e == nullptr)
                co_return none_admitted<result>(call);
            in_flight guard{this, c.e, start};
            if constexpr (!has_breakers) {
                auto o = co_await next(ctx);
                guard.v = classifier_(o);
                co_return o;
            } else {
                auto o = co_await c.b->async_execute(
                    [&](context& cx) -> next_result_t<Next> {
                        guard.ran = true;
                        auto out = co_await next(cx);
                        guard.v = classifier_(out);
                        co_return out;
                    },
                    ctx);
                if (guard.ran)
                    co_return o;
                call.rejected(c.e, o.error().retry_after);
            }
        }
    }

    /// Picks an endpoint for `ctx` at `now`, sets it as the context's endpoint and counts it
    /// outstanding; null when none is ready. Pair with `finish`. (The policy's own core, public
    /// for transports that drive balancing by hand; it does not consult the breakers.)
    const endpoint* begin(context& ctx, time_point now) {
        return_due(now);
        const endpoint* e;
        {
            const registry::reader r = reg_->read();
            e = pick(r.set(), ctx, now);
            picked(r.set(), e);
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
            if (reg_->record(*e, v, end - start, end)) [[unlikely]]
                bulwark::emit(listener_, events::balance_ejected{e, e->ejected_until() - end});
        } catch (...) {
        }
        e->end_request();
    }

    Strategy& strategy() noexcept { return strategy_; }
    registry& target() const noexcept { return *reg_; }
    /// The per-endpoint breakers (only with `Breakers`).
    Breakers& breakers() const noexcept requires has_breakers { return breakers_.set(); }

private:
    struct claim {
        const endpoint* e;
        breaker_type* b;
    };

    // Ends an attempt: records it if it ran (with breakers, only once admitted), else only
    // ends the outstanding count (a rejection is not a request of the endpoint).
    struct in_flight {
        balance* self;
        const endpoint* e;
        time_point start;
        bool ran = !has_breakers;
        verdict v = verdict::failure; // if the operation escaped with an exception
        in_flight(balance* s, const endpoint* ep, time_point t) noexcept
            : self(s)
            , e(ep)
            , start(t) {}
        in_flight(const in_flight&) = delete;
        ~in_flight() {
            if (ran)
                self->finish(e, v, start);
            else
                e->end_request();
        }
    };

    // The endpoint of the next attempt: without breakers exactly `begin`; with them, the
    // strategy's pick, or after a rejection its pick among the endpoints not ruled out.
    claim claim_endpoint(context& ctx, time_point now, call_state& call) {
        if constexpr (!has_breakers) {
            return claim{begin(ctx, now), nullptr};
        } else {
            return_due(now);
            claim c{nullptr, nullptr};
            {
                const registry::reader r = reg_->read();
                const endpoint_set& set = r.set();
                if (call.excluded.ruled_out() == 0) [[likely]]
                    c.e = pick(set, ctx, now);
                else if (!call.exhausted)
                    c.e = repick(set, ctx, now, call.excluded);
                picked(set, c.e);
                if (c.e != nullptr) {
                    c.b = &breakers_.of(set, c.e);
                    c.e->begin_request();
                }
            }
            if (c.e != nullptr)
                ctx.set_endpoint(c.e);
            return c;
        }
    }

    template <class Result>
    static Result none_admitted(const call_state& call) {
        if constexpr (has_breakers) {
            if (call.excluded.ruled_out() != 0)
                return Result{errc::circuit_open, call.retry_after};
        }
        return Result{errc::no_endpoint};
    }

    const endpoint* pick(const endpoint_set& set, const context& ctx, time_point now) {
        const endpoint* e = strategy_.pick(set, ctx, now);
        if (e != nullptr && ctx.tried_count() != 0 && ctx.was_tried(e)) [[unlikely]] {
            // A retry, and the strategy offered an endpoint this call tried: its choice among
            // the untried ones, else (all tried) its first offer.
            const endpoint* untried = choose(set, ctx, now, exclusion{ctx});
            return untried != nullptr ? untried : e;
        }
        return e;
    }

    // After a breaker rejection: the strategy's choice among the endpoints neither ruled out
    // nor tried; when every other one was tried, among those not ruled out.
    const endpoint* repick(const endpoint_set& set, const context& ctx, time_point now,
                           exclusion& excluded) {
        if (const endpoint* e = choose(set, ctx, now, excluded))
            return e;
        excluded.forget_tried();
        return choose(set, ctx, now, excluded);
    }

    // The strategy's choice among the ready endpoints `x` does not exclude (cold).
    const endpoint* choose(const endpoint_set& set, const context& ctx, time_point now,
                           const exclusion& x) {
        if constexpr (excluding_strategy<Strategy>) {
            return strategy_.pick(set, ctx, now, x);
        } else {
            // A user strategy: ask again (random ones move on), then let it pick over a copy of
            // the snapshot without the excluded endpoints.
            for (int i = 0; i < 2; ++i)
                if (const endpoint* e = strategy_.pick(set, ctx, now); e && !x.excludes(e))
                    return e;
            std::vector<const endpoint*> rest;
            for (const endpoint* e : set.ready())
                if (!x.excludes(e))
                    rest.push_back(e);
            if (rest.empty())
                return nullptr;
            const endpoint_set view(set.owners(), std::move(rest), set.panic(), set.version(),
                                    set.ewma_decay());
            const endpoint* e = strategy_.pick(view, ctx, now);
            return e != nullptr && !x.excludes(e) ? e : nullptr;
        }
    }

    // ---- events (compile to nothing without a listener that hears them) ----
    void return_due(time_point now) {
        if constexpr (hears<Listener, events::balance_returned>)
            reg_->return_due(now, [this](const endpoint& e) {
                bulwark::emit(listener_, events::balance_returned{&e});
            });
        else
            reg_->return_due(now);
    }
    void picked(const endpoint_set& set, const endpoint* e) {
        if (e != nullptr)
            bulwark::emit(listener_, events::balance_picked{e});
        if constexpr (hears<Listener, events::balance_panic>) {
            const bool now_panic = set.panic();
            if (panic_.seen.load(std::memory_order_relaxed) != now_panic &&
                panic_.seen.exchange(now_panic, std::memory_order_relaxed) != now_panic)
                [[unlikely]] {
                std::size_t healthy = 0;
                for (const endpoint* x : set.all())
                    healthy += x->healthy() ? std::size_t{1} : std::size_t{0};
                bulwark::emit(listener_,
                              events::balance_panic{now_panic, healthy, set.all().size()});
            }
        }
    }
    /// The panic mode last reported (only kept for a listener that hears `balance_panic`).
    struct panic_flag {
        std::atomic<bool> seen{false};
        panic_flag() = default;
        panic_flag(const panic_flag& o) noexcept
            : seen(o.seen.load(std::memory_order_relaxed)) {}
        panic_flag& operator=(const panic_flag& o) noexcept {
            seen.store(o.seen.load(std::memory_order_relaxed), std::memory_order_relaxed);
            return *this;
        }
    };
    struct no_panic_flag {};

    registry* reg_;
    [[no_unique_address]] Strategy strategy_;
    [[no_unique_address]] Classifier classifier_;
    [[no_unique_address]] typename detail::breakers_of<Breakers>::lookup breakers_;
    [[no_unique_address]] Listener listener_;
    [[no_unique_address]] std::conditional_t<hears<Listener, events::balance_panic>, panic_flag,
                                             no_panic_flag>
        panic_;
};

template <endpoint_breaker_set Set, balancing_strategy S>
balance(registry&, Set&, S) -> balance<S, default_classifier, Set>;
template <endpoint_breaker_set Set, balancing_strategy S, class C>
balance(registry&, Set&, S, C) -> balance<S, C, Set>;
template <endpoint_breaker_set Set, balancing_strategy S, class C, class L>
balance(registry&, Set&, S, C, L) -> balance<S, C, Set, L>;
template <balancing_strategy S, class C, class L>
balance(registry&, S, C, L) -> balance<S, C, no_endpoint_breakers, L>;

/// `balance` with a breaker per endpoint: `balance_with_breakers<p2c_peak_ewma>{reg, breakers}`.
template <balancing_strategy Strategy, class Breakers = breaker_set<std::string>,
          class Classifier = default_classifier>
using balance_with_breakers = balance<Strategy, Classifier, Breakers>;

} // namespace bulwark
