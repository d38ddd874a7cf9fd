#pragma once
/// \file
/// `step{name, action, compensation}`: one step of a saga, with the pipelines its action and its
/// compensation run through, its timeout, and `saga_context`, what both receive.

#include <bulwark/core/context.hpp>
#include <bulwark/core/outcome.hpp>
#include <bulwark/core/time.hpp>
#include <bulwark/detail/validate.hpp>
#include <bulwark/pipeline.hpp>
#include <bulwark/saga/saga_store.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace bulwark {

/// What a step's action and compensation receive: the saga's id and shared data, the step's
/// idempotency key, and the call's `context` (deadline, stop token, headers).
///
/// **Idempotency:** after a crash a step may run again (its action ran, the record of it did
/// not). Pass `idempotency_key()` to the service the step calls (an `Idempotency-Key` header, a
/// message id, a unique column) so the second run changes nothing. The key is
/// `<saga id>:<step name>` for the action and `<saga id>:<step name>:compensate` for the
/// compensation: the same on every run and every resume.
class saga_context {
public:
    saga_context(const std::string& saga_id, std::string_view step_name, std::uint32_t index,
                 bool compensating, saga_data& data, context& call)
        : saga_id_(saga_id)
        , step_name_(step_name)
        , index_(index)
        , compensating_(compensating)
        , data_(data)
        , call_(&call) {
        key_.reserve(saga_id.size() + step_name.size() + 12);
        key_.append(saga_id).append(":").append(step_name);
        if (compensating)
            key_.append(":compensate");
    }

    const std::string& saga_id() const noexcept { return saga_id_; }
    std::string_view step_name() const noexcept { return step_name_; }
    /// 1 for the first step.
    std::uint32_t step_index() const noexcept { return index_; }
    /// True inside a compensation.
    bool compensating() const noexcept { return compensating_; }
    /// The same for every run of this step of this saga (see the class comment).
    const std::string& idempotency_key() const noexcept { return key_; }
    /// The saga's shared values; changes are saved with the step's progress.
    saga_data& data() noexcept { return data_; }
    /// The call's context: its deadline is the step's (and the saga's), its stop token the
    /// caller's. Hand it to transports and nested pipelines.
    context& call() noexcept { return *call_; }

    /// Set by the saga for each attempt the step's pipeline makes.
    void set_call(context& c) noexcept { call_ = &c; }

private:
    const std::string& saga_id_;
    std::string_view step_name_;
    std::uint32_t index_;
    bool compensating_;
    saga_data& data_;
    context* call_;
    std::string key_;
};

/// The compensation of a step that needs none (a read, a notification, the pivot step).
struct no_compensation {
    void operator()(saga_context&) const noexcept {}
};

namespace detail {

/// True when `F` can be a step's action or compensation.
template <class F>
inline constexpr bool step_callable =
    std::is_invocable_v<F&, saga_context&> || std::is_invocable_v<F&>;

// One line at the step's construction; the compiler prints `Given` in the instantiation context.
template <class Given>
constexpr void step_action_check() {
    static_assert(step_callable<Given>, "bulwark::step: the action must be callable as "
                                        "f(bulwark::saga_context&) or f() (got Given)");
}
template <class Given>
constexpr void step_compensation_check() {
    static_assert(step_callable<Given>,
                  "bulwark::step: the compensation must be callable as "
                  "f(bulwark::saga_context&) or f(), or be bulwark::no_compensation (got Given)");
}

/// Calls a step callable as `f(saga_context&)` or `f()` and reduces what it returns to
/// `outcome<void>`: void or any value is a success; an `outcome` or an expected-like value
/// without a value is a failure (the latter as `errc::rejected`).
template <class F>
outcome<void> call_step_checked(F& f, saga_context& sc);

template <class F>
outcome<void> call_step(F& f, saga_context& sc) {
    if constexpr (!step_callable<F>) {
        return errc::rejected; // unreachable: the step's constructor already failed to compile
    } else {
        return call_step_checked(f, sc);
    }
}

template <class F>
outcome<void> call_step_checked(F& f, saga_context& sc) {
    auto invoke = [&]() -> decltype(auto) {
        if constexpr (std::is_invocable_v<F&, saga_context&>)
            return f(sc);
        else
            return f();
    };
    using R = decltype(invoke());
    if constexpr (std::is_void_v<R>) {
        invoke();
        return outcome<void>::success();
    } else if constexpr (is_outcome_v<R>) {
        auto r = invoke();
        if (r.has_value())
            return outcome<void>::success();
        return r.error();
    } else if constexpr (expected_like<std::remove_cvref_t<R>>) {
        auto r = invoke();
        if (r.has_value())
            return outcome<void>::success();
        return errc::rejected;
    } else {
        (void)invoke();
        return outcome<void>::success();
    }
}

} // namespace detail

/// One step of a saga: `action` does the work, `compensation` undoes it after a later step
/// failed. Each runs through its own pipeline of policies (retry, breaker, timeout, ...).
///
/// ```cpp
/// bulwark::step{"charge", charge, refund,
///               bulwark::pipeline{bulwark::retry{.max_attempts = 3}},       // the action's
///               bulwark::pipeline{bulwark::retry{.max_attempts = 10}}}      // the compensation's
///     .with_timeout(2s)
/// ```
/// An action or compensation is `f(saga_context&)` or `f()`; it fails by throwing, or by
/// returning an `outcome` or expected-like value without a value.
/// **Failure semantics:** the action's failure (after its pipeline gave up) starts the
/// compensation of the steps before it; the failed step itself is not compensated (it did not
/// complete — make its action atomic or idempotent). A compensation that fails after its
/// pipeline gave up parks the saga.
/// **Time:** `with_timeout(d)` limits the action and all its retries together (a total
/// `bulwark::timeout` outside the action's pipeline, on the saga's clock).
template <class Action, class Compensation = no_compensation, class Policies = pipeline<>,
          class CompensationPolicies = pipeline<>>
class step {
public:
    step(std::string name, Action action, Compensation compensation = {}, Policies policies = {},
         CompensationPolicies compensation_policies = {})
        : name_(std::move(name))
        , action_(std::move(action))
        , compensation_(std::move(compensation))
        , policies_(std::move(policies))
        , compensation_policies_(std::move(compensation_policies)) {
        detail::step_action_check<Action>();
        if constexpr (!std::is_same_v<Compensation, no_compensation>)
            detail::step_compensation_check<Compensation>();
        detail::require(!name_.empty(), "step", "name", "not empty", name_);
    }

    /// A limit on the action and all its attempts (zero: none).
    step with_timeout(duration d) && {
        detail::require(d > duration::zero(), "step", "timeout", "> 0", d);
        timeout_ = d;
        return std::move(*this);
    }

    const std::string& name() const noexcept { return name_; }
    duration timeout() const noexcept { return timeout_; }
    static constexpr bool compensates = !std::is_same_v<Compensation, no_compensation>;

    /// Runs the action through its pipeline (the saga calls this).
    outcome<void> run_action(saga_context& sc, context& ctx) {
        return policies_.try_execute(
            [&](context& c) {
                sc.set_call(c);
                return detail::call_step(action_, sc);
            },
            ctx);
    }
    /// Runs the compensation through its pipeline (the saga calls this).
    outcome<void> run_compensation(saga_context& sc, context& ctx) {
        return compensation_policies_.try_execute(
            [&](context& c) {
                sc.set_call(c);
                return detail::call_step(compensation_, sc);
            },
            ctx);
    }

private:
    std::string name_;
    Action action_;
    Compensation compensation_;
    Policies policies_;
    CompensationPolicies compensation_policies_;
    duration timeout_{};
};

template <class A>
step(std::string, A) -> step<A>;
template <class A, class C>
step(std::string, A, C) -> step<A, C>;
template <class A, class C, class P>
step(std::string, A, C, P) -> step<A, C, P>;
template <class A, class C, class P, class CP>
step(std::string, A, C, P, CP) -> step<A, C, P, CP>;
template <class A>
step(const char*, A) -> step<A>;
template <class A, class C>
step(const char*, A, C) -> step<A, C>;
template <class A, class C, class P>
step(const char*, A, C, P) -> step<A, C, P>;
template <class A, class C, class P, class CP>
step(const char*, A, C, P, CP) -> step<A, C, P, CP>;

namespace detail {
template <class T>
struct is_step : std::false_type {};
template <class A, class C, class P, class CP>
struct is_step<step<A, C, P, CP>> : std::true_type {};
} // namespace detail

} // namespace bulwark
