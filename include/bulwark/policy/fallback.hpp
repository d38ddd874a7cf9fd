#pragma once
/// \file
/// `fallback`: replaces a failed outcome with a value, or with what a handler makes of the
/// failure (Polly v8's FallbackStrategy, resilience4j's `Decorators.withFallback`).
///
/// ```cpp
/// bulwark::fallback{[](const bulwark::failure& f) { return cached_user(); }}   // a handler
/// bulwark::fallback{std::string{"n/a"}}                                        // a value
/// bulwark::fallback{handler, bulwark::failure_on<std::system_error>}          // which failures
/// ```

#include <bulwark/core/classify.hpp>
#include <bulwark/core/context.hpp>
#include <bulwark/core/outcome.hpp>
#include <bulwark/core/policy.hpp>
#include <bulwark/observe/listener.hpp>

#include <concepts>
#include <type_traits>
#include <utility>

namespace bulwark {

/// Turns an outcome that `Classifier` calls a failure into the fallback's result.
///
/// `Handler` is called with the first of these it accepts: `(const failure&, context&)`,
/// `(const failure&)`, `(const outcome<R>&)`, `()`. Anything else is a value, copied out on
/// failure. The handler returns `R` or `outcome<R>`.
///
/// **Failure semantics:** successes and ignored outcomes pass through. On a failure the handler
/// decides; if it throws, that exception becomes the outcome. A value the classifier calls a
/// failure (`failure_if`) reaches a `failure` handler as `errc::rejected`; take
/// `const outcome<R>&` to see the value itself. **Thread safety:** as the handler (called
/// concurrently from concurrent calls). **Allocation:** none of its own. **Complexity:** one
/// classifier call per call.
template <class Handler, class Classifier = default_classifier, class Listener = null_listener>
class fallback {
public:
    static constexpr policy_kind kind = policy_kind::fallback;

    /// A fallback value or handler, and which outcomes count as failures.
    explicit fallback(Handler handler, Classifier classifier = {}, Listener listener = {})
        : handler_(std::move(handler))
        , classifier_(std::move(classifier))
        , listener_(std::move(listener)) {}

    /// Runs `next(ctx)`; replaces a failed outcome.
    template <class Next>
    next_result_t<Next> execute(Next&& next, context& ctx) {
        return apply(next(ctx), ctx);
    }

    /// The coroutine driver: awaits `next(ctx)`, then the same `apply`.
    template <class Next>
    next_result_t<Next> async_execute(Next&& next, context& ctx) {
        co_return apply(co_await next(ctx), ctx);
    }

    /// The core of both drivers: the outcome, or the fallback's result for a failure.
    template <class R>
    outcome<R> apply(outcome<R>&& o, context& ctx) {
        if (classifier_(std::as_const(o)) != verdict::failure) [[likely]]
            return std::move(o);
        bulwark::emit(listener_, events::fallback_used{o.has_failure() ? &o.error() : nullptr});
        const failure f = o.has_failure() ? o.error() : failure{errc::rejected};
        Handler& h = handler_;
        if constexpr (std::is_invocable_v<Handler&, const failure&, context&>)
            return run<R>([&] { return h(f, ctx); });
        else if constexpr (std::is_invocable_v<Handler&, const failure&>)
            return run<R>([&] { return h(f); });
        else if constexpr (std::is_invocable_v<Handler&, const outcome<R>&>)
            return run<R>([&] { return h(std::as_const(o)); });
        else if constexpr (std::is_invocable_v<Handler&>)
            return run<R>([&] { return h(); });
        else {
            static_assert(std::is_constructible_v<outcome<R>, const Handler&>,
                          "bulwark::fallback: the fallback value does not convert to the "
                          "operation's result; give a value of that type, or a handler taking "
                          "(const bulwark::failure&) that returns one");
            return outcome<R>(std::as_const(h));
        }
    }

    /// The fallback value or handler.
    const Handler& handler() const noexcept { return handler_; }

private:
    /// Calls the handler once, catching what it throws, with a readable error for a result that
    /// cannot become `R`.
    template <class R, class Call>
    static outcome<R> run(Call&& call) {
        using T = std::invoke_result_t<Call&>;
        if constexpr (std::is_void_v<T>) {
            static_assert(std::is_void_v<R>, "bulwark::fallback: the handler returns nothing, but "
                                             "the operation returns a value; return one");
            return capture(call);
        } else {
            static_assert(std::is_constructible_v<outcome<R>, T>,
                          "bulwark::fallback: the handler must return the operation's result "
                          "type (or bulwark::outcome of it)");
            return capture([&]() -> outcome<R> { return outcome<R>(call()); });
        }
    }

    [[no_unique_address]] Handler handler_;
    [[no_unique_address]] Classifier classifier_;
    [[no_unique_address]] Listener listener_;
};

template <class Handler>
fallback(Handler) -> fallback<Handler>;
template <class Handler, class Classifier>
fallback(Handler, Classifier) -> fallback<Handler, Classifier>;
template <class Handler, class Classifier, class Listener>
fallback(Handler, Classifier, Listener) -> fallback<Handler, Classifier, Listener>;

} // namespace bulwark
