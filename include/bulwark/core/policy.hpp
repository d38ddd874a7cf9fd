#pragma once
/// \file
/// The `policy` concept: a type with `execute(next, ctx)` (and, for the coroutine driver,
/// `async_execute(next, ctx)`), where `next(ctx)` runs everything inside the policy.
///
/// ```cpp
/// struct log_attempts {
///     template <class Next>
///     bulwark::next_result_t<Next> execute(Next&& next, bulwark::context& ctx) {
///         std::printf("attempt %u\n", ctx.attempt());
///         return next(ctx);
///     }
/// };
/// ```

#include <bulwark/core/context.hpp>
#include <bulwark/core/outcome.hpp>
#include <bulwark/detail/enum_text.hpp>
#include <bulwark/runtime/task.hpp>

#include <concepts>
#include <functional>
#include <type_traits>

namespace bulwark {

/// The outcome type that `next(ctx)` returns inside a policy's `execute`.
template <class Next>
using next_result_t = std::remove_cvref_t<std::invoke_result_t<Next&, context&>>;

/// What a policy is, for composition checks (`pipeline` rejects certain misuse at compile time).
/// A policy declares it as `static constexpr bulwark::policy_kind kind = ...;` (default `other`).
enum class policy_kind {
    other,
    total_timeout,   ///< one deadline over all attempts: outside retry/hedge
    attempt_timeout, ///< a deadline per attempt: inside retry/hedge
    retry,
    hedge,
    circuit_breaker,
    bulkhead,
    rate_limiter,
    fallback,
    balance,
};

/// The enumerator's name ("other", ...); "unknown" for a value outside the enum.
constexpr std::string_view to_string(policy_kind v) noexcept {
    switch (v) {
    case policy_kind::other:
        return "other";
    case policy_kind::total_timeout:
        return "total_timeout";
    case policy_kind::attempt_timeout:
        return "attempt_timeout";
    case policy_kind::retry:
        return "retry";
    case policy_kind::hedge:
        return "hedge";
    case policy_kind::circuit_breaker:
        return "circuit_breaker";
    case policy_kind::bulkhead:
        return "bulkhead";
    case policy_kind::rate_limiter:
        return "rate_limiter";
    case policy_kind::fallback:
        return "fallback";
    case policy_kind::balance:
        return "balance";
    }
    return "unknown";
}

namespace detail {

/// Stands for "whatever the operation returns" when a policy is checked without an operation.
struct archetype_result {
    archetype_result() = default;
    template <class T>
    explicit archetype_result(T&&) {}
};

struct next_archetype {
    outcome<archetype_result> operator()(context&) const;
};

struct async_next_archetype {
    task<outcome<archetype_result>> operator()(context&) const;
};

template <class P>
struct unwrap_policy {
    using type = P;
};
template <class P>
struct unwrap_policy<std::reference_wrapper<P>> {
    using type = P;
};

template <class P>
constexpr policy_kind kind_of() noexcept {
    if constexpr (requires { P::kind; })
        return P::kind;
    else
        return policy_kind::other;
}

} // namespace detail

/// The policy type behind `P` (`std::reference_wrapper<P>` shares one policy between pipelines).
template <class P>
using policy_type_t = typename detail::unwrap_policy<std::remove_cvref_t<P>>::type;

/// The declared kind of a policy (see `policy_kind`).
template <class P>
inline constexpr policy_kind policy_kind_v = detail::kind_of<policy_type_t<P>>();

/// The part a policy plays in the pipeline's composition rules: a `repeater` runs its inner
/// policies more than once (retry, hedge); a `total_timeout` bounds all attempts and must be
/// outside every repeater (at most one); an `attempt_timeout` bounds one attempt and must be
/// inside a repeater.
enum class composition_role { none, repeater, total_timeout, attempt_timeout };

/// The enumerator's name ("none", ...); "unknown" for a value outside the enum.
constexpr std::string_view to_string(composition_role v) noexcept {
    switch (v) {
    case composition_role::none:
        return "none";
    case composition_role::repeater:
        return "repeater";
    case composition_role::total_timeout:
        return "total_timeout";
    case composition_role::attempt_timeout:
        return "attempt_timeout";
    }
    return "unknown";
}

/// The role that a `policy_kind` implies.
constexpr composition_role role_of(policy_kind k) noexcept {
    switch (k) {
    case policy_kind::retry:
    case policy_kind::hedge:
        return composition_role::repeater;
    case policy_kind::total_timeout:
        return composition_role::total_timeout;
    case policy_kind::attempt_timeout:
        return composition_role::attempt_timeout;
    default:
        return composition_role::none;
    }
}

/// The open trait behind the composition rules. A user's own policy takes part by specialising
/// it, without borrowing a built-in `policy_kind`:
/// ```cpp
/// template <> struct bulwark::policy_traits<my_repeater> {
///     static constexpr bulwark::composition_role role = bulwark::composition_role::repeater;
/// };
/// ```
/// The default reads the policy's `kind` (or a `static constexpr composition_role role` member).
template <class P>
struct policy_traits {
    static constexpr composition_role role = [] {
        if constexpr (requires { P::role; })
            return composition_role{P::role};
        else
            return role_of(detail::kind_of<P>());
    }();
};

/// The composition role of a policy (see `policy_traits`).
template <class P>
inline constexpr composition_role policy_role_v = policy_traits<policy_type_t<P>>::role;

/// Part of `policy`: `p.execute(next, ctx)` returns what `next(ctx)` returns.
template <class P>
concept has_execute = requires(policy_type_t<P>& p, detail::next_archetype& next, context& ctx) {
    { p.execute(next, ctx) } -> std::same_as<outcome<detail::archetype_result>>;
};

/// Part of `async_policy`: `co_await p.async_execute(next, ctx)` where `next(ctx)` returns a task.
template <class P>
concept has_async_execute = requires(policy_type_t<P>& p, detail::async_next_archetype& next,
                                     context& ctx) {
    { p.async_execute(next, ctx) } -> std::same_as<task<outcome<detail::archetype_result>>>;
};

namespace detail {
/// A `next` for the coroutine driver whose result is `task<outcome<R>>` (diagnostics).
template <class R>
struct async_next_of {
    task<outcome<R>> operator()(context&) const;
};
/// `p.async_execute(next, ctx)` is callable, whatever it returns (to tell "missing" apart
/// from "wrong return type" in a diagnostic).
template <class P, class R>
concept callable_async_execute = requires(policy_type_t<P>& p, async_next_of<R>& next,
                                          context& ctx) {
    p.async_execute(next, ctx);
};
/// Instantiated only for a policy whose async_execute returns the wrong type: the compiler
/// prints `Got` (what it returns) and `Expected` (next_result_t<Next>) beside the message.
template <class Got, class Expected>
constexpr void async_execute_return_check() {
    static_assert(std::is_same_v<Got, Expected>,
                  "bulwark::pipeline: async_execute must return next_result_t<Next> (got the "
                  "`Got` type of this check; write `bulwark::next_result_t<Next> "
                  "async_execute(Next&& next, bulwark::context& ctx)` and co_await next(ctx))");
}
} // namespace detail

/// A policy for the synchronous driver.
template <class P>
concept policy = std::is_object_v<std::remove_reference_t<P>> && has_execute<P>;

/// A policy for both drivers.
template <class P>
concept async_policy = policy<P> && has_async_execute<P>;

/// A policy that does nothing: the identity of composition (and a template for your own).
struct pass_through {
    template <class Next>
    next_result_t<Next> execute(Next&& next, context& ctx) {
        return next(ctx);
    }
    template <class Next>
    next_result_t<Next> async_execute(Next&& next, context& ctx) {
        return next(ctx);
    }
};

static_assert(async_policy<pass_through>);

} // namespace bulwark
