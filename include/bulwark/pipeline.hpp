#pragma once
/// \file
/// `pipeline<P...>`: policies composed at compile time into one nested, inlined call.
///
/// ```cpp
/// auto client = bulwark::pipeline{bulwark::timeout{.total = 2s}, bulwark::retry{...}};
/// int v = client.execute([&](bulwark::context& ctx) { return fetch(ctx); });
/// ```
/// The first policy is the outermost. `execute` runs the chain on this thread; `async_execute`
/// runs it as a coroutine (`task<R>`), on the policies' `async_execute`.

#include <bulwark/core/context.hpp>
#include <bulwark/core/outcome.hpp>
#include <bulwark/core/policy.hpp>
#include <bulwark/runtime/task.hpp>

#include <boost/hana/at.hpp>
#include <boost/hana/tuple.hpp>

#include <array>
#include <cstddef>
#include <functional>
#include <type_traits>
#include <utility>

namespace bulwark {

namespace detail {

template <class T>
struct is_task : std::false_type {};
template <class T>
struct is_task<task<T>> : std::true_type {};

template <class T>
struct strip_outcome {
    using type = T;
};
template <class T>
struct strip_outcome<outcome<T>> {
    using type = T;
};

/// What an operation is: how it is called and what it returns.
template <class Op>
struct op_traits {
    static constexpr bool with_context = std::is_invocable_v<Op&, context&>;
    static constexpr bool without_context = !with_context && std::is_invocable_v<Op&>;
    static constexpr bool valid = with_context || without_context;

    template <bool V = valid>
    static auto raw_type() {
        if constexpr (!V)
            return std::type_identity<void>{};
        else if constexpr (with_context)
            return std::type_identity<std::invoke_result_t<Op&, context&>>{};
        else
            return std::type_identity<std::invoke_result_t<Op&>>{};
    }
    using raw = typename decltype(raw_type())::type;
    static constexpr bool returns_task = is_task<std::remove_cvref_t<raw>>::value;

    template <bool T = returns_task>
    static auto awaited_type() {
        if constexpr (T)
            return std::type_identity<typename std::remove_cvref_t<raw>::value_type>{};
        else
            return std::type_identity<raw>{};
    }
    /// The operation's value type: what `execute` returns (outcome<X> and task<X> unwrapped).
    using result =
        typename strip_outcome<std::remove_cvref_t<typename decltype(awaited_type())::type>>::type;
};

template <class Op>
decltype(auto) call_op(Op& op, context& ctx) {
    if constexpr (op_traits<Op>::with_context)
        return op(ctx);
    else
        return op();
}

template <class Op>
inline constexpr bool sync_op_ok = op_traits<Op>::valid && !op_traits<Op>::returns_task;
template <class Op>
inline constexpr bool async_op_ok = op_traits<Op>::valid&& op_traits<Op>::returns_task;

template <class Op>
constexpr void check_sync_op() {
    static_assert(op_traits<Op>::valid, "bulwark::pipeline::execute: the operation must be "
                                        "callable as op(bulwark::context&) or as op()");
    if constexpr (op_traits<Op>::valid)
        static_assert(!op_traits<Op>::returns_task,
                      "bulwark::pipeline::execute: the operation returns a bulwark::task; "
                      "use co_await pipeline.async_execute(op) instead");
}

template <class Op>
constexpr void check_async_op() {
    static_assert(op_traits<Op>::valid, "bulwark::pipeline::async_execute: the operation must be "
                                        "callable as op(bulwark::context&) or as op()");
    if constexpr (op_traits<Op>::valid)
        static_assert(op_traits<Op>::returns_task,
                      "bulwark::pipeline::async_execute: the operation must return a "
                      "bulwark::task<T>; for a plain function use pipeline.execute(op)");
}

/// The innermost link of the async chain: awaits the operation, catching its exception once.
template <class R, class Op>
task<outcome<R>> async_capture(Op& op, context& ctx) {
    try {
        if constexpr (std::is_void_v<R>) {
            co_await call_op(op, ctx);
            co_return outcome<R>::success();
        } else {
            co_return outcome<R>(co_await call_op(op, ctx));
        }
    } catch (...) {
        co_return outcome<R>::current_exception();
    }
}

template <class P>
constexpr bool check_policy() {
    static_assert(has_execute<P>,
                  "bulwark::pipeline: this type is not a policy; give it "
                  "`template <class Next> bulwark::next_result_t<Next> "
                  "execute(Next&& next, bulwark::context& ctx)` that calls next(ctx)");
    return has_execute<P>;
}

/// A composition mistake that the kinds of the policies reveal.
enum class composition_error {
    none,
    two_total_timeouts,
    attempt_timeout_outside,
    total_timeout_inside
};

inline constexpr const char* composition_messages[] = {
    "",
    "bulwark::pipeline: two total timeouts; keep one",
    "bulwark::pipeline: a per-attempt timeout is outside the retry/hedge, so it times all attempts "
    "together; move it after (inside) the retry or hedge",
    "bulwark::pipeline: a total timeout is inside the retry/hedge, so it restarts on every "
    "attempt; move it before (outside) the retry, or make it per_attempt",
};

/// The composition rules, over the roles of the policies (`policy_traits`), outermost first.
template <std::size_t N>
constexpr composition_error check_roles(const std::array<composition_role, N>& roles) noexcept {
    std::size_t totals = 0, repeater = N, first_attempt = N, last_total = N;
    for (std::size_t i = 0; i < N; ++i) {
        const composition_role r = roles[i];
        if (r == composition_role::total_timeout) {
            ++totals;
            last_total = i;
        }
        if (r == composition_role::repeater && repeater == N)
            repeater = i;
        if (r == composition_role::attempt_timeout && first_attempt == N)
            first_attempt = i;
    }
    if (totals > 1)
        return composition_error::two_total_timeouts;
    if (repeater != N && first_attempt != N && first_attempt < repeater)
        return composition_error::attempt_timeout_outside;
    if (repeater != N && last_total != N && last_total > repeater)
        return composition_error::total_timeout_inside;
    return composition_error::none;
}

/// The same rules over built-in kinds (kept for callers that hold kinds).
template <std::size_t N>
constexpr composition_error check_kinds(const std::array<policy_kind, N>& kinds) noexcept {
    std::array<composition_role, N> roles{};
    for (std::size_t i = 0; i < N; ++i)
        roles[i] = role_of(kinds[i]);
    return check_roles(roles);
}

/// The rules, checked on the policies' declared roles at compile time.
template <composition_role... R>
constexpr bool check_composition() {
    constexpr auto e = check_roles(std::array<composition_role, sizeof...(R)>{R...});
    static_assert(e != composition_error::two_total_timeouts,
                  "bulwark::pipeline: two total timeouts; keep one");
    static_assert(e != composition_error::attempt_timeout_outside,
                  "bulwark::pipeline: a per-attempt timeout is outside the retry/hedge, so it "
                  "times all attempts together; move it after (inside) the retry or hedge");
    static_assert(e != composition_error::total_timeout_inside,
                  "bulwark::pipeline: a total timeout is inside the retry/hedge, so it restarts "
                  "on every attempt; move it before (outside) the retry, or make it per_attempt");
    return true;
}

template <class P>
constexpr composition_role current_role(const P& p) { // may throw: runtime_kind() can validate
    if constexpr (requires { p.runtime_kind(); })
        return role_of(p.runtime_kind());
    else
        return policy_role_v<P>;
}

/// The same rules at construction, for policies whose kind depends on their settings
/// (`runtime_kind()`, e.g. a timeout that is total or per attempt).
template <class... P>
void check_runtime_composition(const P&... policies) {
    auto e = check_roles(std::array<composition_role, sizeof...(P)>{current_role(policies)...});
    if (e != composition_error::none)
        throw invalid_argument_error(composition_messages[static_cast<int>(e)]);
}

template <class T>
struct is_reference_wrapper : std::false_type {};
template <class T>
struct is_reference_wrapper<std::reference_wrapper<T>> : std::true_type {};

template <class P>
constexpr decltype(auto) unwrap(P& p) noexcept {
    if constexpr (is_reference_wrapper<std::remove_const_t<P>>::value)
        return p.get();
    else
        return (p);
}

} // namespace detail

/// Policies composed at compile time; the first is the outermost.
///
/// **Failure semantics:** `execute` returns the value or throws — the user's own exception as it
/// was thrown, or `resilience_error` for a policy's failure (timeout, open breaker, ...).
/// `try_execute` never throws for the operation: it returns an `outcome<R>`.
/// **Time and cancellation:** pass a `context` to set a deadline or a caller stop token. The
/// time-based policies share one clock reading per call, carried by the context
/// (runtime/call_time.hpp): each call through the pipeline starts without one.
/// **Thread safety:** as thread-safe as its policies (bulwark's built-in policies are).
/// **Allocation:** none on the success path of `execute` (policies keep their state inline).
/// Share a policy between pipelines with `std::ref(policy)`.
template <class... P>
class pipeline {
    static_assert((detail::check_policy<P>(), ..., true)); // one readable message per bad type
    static_assert(detail::check_composition<policy_role_v<P>...>());

public:
    static constexpr std::size_t size = sizeof...(P);

    constexpr pipeline() requires(std::is_default_constructible_v<P>&&...) = default;
    /// Takes the policies, outermost first. Throws `invalid_argument_error` for a composition
    /// that is wrong given the policies' settings (e.g. two total timeouts).
    constexpr explicit pipeline(P... policies) requires(sizeof...(P) > 0)
        : policies_(std::move(policies)...) {
        check_runtime(std::index_sequence_for<P...>{});
    }

    /// Runs `op` through the policies; returns its value or throws.
    template <class Op>
    auto execute(Op&& op) -> typename detail::op_traits<std::remove_cvref_t<Op>>::result {
        context ctx;
        return execute(std::forward<Op>(op), ctx);
    }
    template <class Op>
    auto execute(Op&& op, context& ctx) ->
        typename detail::op_traits<std::remove_cvref_t<Op>>::result {
        detail::check_sync_op<std::remove_cvref_t<Op>>();
        ctx.clear_call_time(); // a new call: its time-based policies take one fresh reading
        if constexpr (detail::sync_op_ok<std::remove_cvref_t<Op>>)
            return run<0>(op, ctx).value();
    }

    /// Runs `op` through the policies; returns its outcome (never throws for the operation).
    template <class Op>
    auto try_execute(Op&& op)
        -> outcome<typename detail::op_traits<std::remove_cvref_t<Op>>::result> {
        context ctx;
        return try_execute(std::forward<Op>(op), ctx);
    }
    template <class Op>
    auto try_execute(Op&& op, context& ctx)
        -> outcome<typename detail::op_traits<std::remove_cvref_t<Op>>::result> {
        detail::check_sync_op<std::remove_cvref_t<Op>>();
        ctx.clear_call_time(); // a new call: its time-based policies take one fresh reading
        if constexpr (detail::sync_op_ok<std::remove_cvref_t<Op>>)
            return run<0>(op, ctx);
        else
            return {};
    }

    /// The coroutine driver: `co_await pipeline.async_execute(op)` where `op` returns a task.
    /// `op` is moved into the coroutine frame; with a `ctx`, the caller keeps it alive.
    template <class Op>
    auto async_execute(Op op) -> task<typename detail::op_traits<Op>::result> {
        detail::check_async_op<Op>();
        context ctx;
        if constexpr (detail::async_op_ok<Op>) {
            auto o = co_await run_async<0>(op, ctx);
            co_return std::move(o).value();
        }
    }
    template <class Op>
    auto async_execute(Op op, context& ctx) -> task<typename detail::op_traits<Op>::result> {
        detail::check_async_op<Op>();
        ctx.clear_call_time();
        if constexpr (detail::async_op_ok<Op>) {
            auto o = co_await run_async<0>(op, ctx);
            co_return std::move(o).value();
        }
    }
    template <class Op>
    auto async_try_execute(Op op, context& ctx)
        -> task<outcome<typename detail::op_traits<Op>::result>> {
        detail::check_async_op<Op>();
        ctx.clear_call_time();
        if constexpr (detail::async_op_ok<Op>)
            co_return co_await run_async<0>(op, ctx);
        else
            co_return {};
    }

    /// The I-th policy (to read a breaker's state, say).
    template <std::size_t I>
    auto& get() noexcept {
        return detail::unwrap(boost::hana::at_c<I>(policies_));
    }
    template <std::size_t I>
    const auto& get() const noexcept {
        return detail::unwrap(boost::hana::at_c<I>(policies_));
    }

private:
    template <std::size_t... I>
    void check_runtime(std::index_sequence<I...>) {
        detail::check_runtime_composition(detail::unwrap(boost::hana::at_c<I>(policies_))...);
    }

    template <std::size_t I, class Op>
    auto run(Op& op, context& ctx) {
        using R = typename detail::op_traits<Op>::result;
        if constexpr (I == sizeof...(P)) {
            return capture([&op](context& c) -> decltype(auto) { return detail::call_op(op, c); },
                           ctx);
        } else if constexpr (has_execute<decltype(boost::hana::at_c<I>(policies_))>) {
            return detail::unwrap(boost::hana::at_c<I>(policies_))
                .execute([this, &op](context& c) -> outcome<R> { return this->run<I + 1>(op, c); },
                         ctx);
        } else {
            return outcome<R>{errc::rejected}; // unreachable: check_policy already failed
        }
    }

    // Each layer is a coroutine that owns its `next` in its frame: a policy's lazily started
    // async_execute may keep `Next&&` as a reference and still await it safely later.
    template <std::size_t I, class Op>
    auto run_async(Op& op, context& ctx) -> task<outcome<typename detail::op_traits<Op>::result>> {
        using R = typename detail::op_traits<Op>::result;
        if constexpr (I == sizeof...(P)) {
            return detail::async_capture<R>(op, ctx);
        } else {
            using policy_t = policy_type_t<decltype(boost::hana::at_c<I>(policies_))>;
            if constexpr (!has_async_execute<policy_t> &&
                          detail::callable_async_execute<policy_t, R>) {
                // It has one, with the wrong return type (often `task<decltype(next(ctx))>`).
                using got = decltype(std::declval<policy_t&>().async_execute(
                    std::declval<detail::async_next_of<R>&>(), std::declval<context&>()));
                detail::async_execute_return_check<got, task<outcome<R>>>();
                return task<outcome<R>>{};
            }
            static_assert(has_async_execute<policy_t> ||
                              detail::callable_async_execute<policy_t, R>,
                          "bulwark::pipeline::async_execute: a policy of this pipeline has no "
                          "async_execute(next, ctx); give it one, or use execute()");
            if constexpr (has_async_execute<policy_t>)
                return run_async_layer<I>(op, ctx);
            else
                return task<outcome<R>>{}; // unreachable: the static_assert above failed
        }
    }
    template <std::size_t I, class Op>
    auto run_async_layer(Op& op, context& ctx)
        -> task<outcome<typename detail::op_traits<Op>::result>> {
        using R = typename detail::op_traits<Op>::result;
        auto next = [this, &op](context& c) -> task<outcome<R>> {
            return this->run_async<I + 1>(op, c);
        };
        co_return co_await detail::unwrap(boost::hana::at_c<I>(policies_)).async_execute(next, ctx);
    }

    [[no_unique_address]] boost::hana::tuple<P...> policies_;
};

template <class... P>
pipeline(P...) -> pipeline<P...>;

} // namespace bulwark
