#pragma once
/// \file
/// Outcome classification: every policy asks a classifier whether an outcome is a success, a
/// failure, or to be ignored (neither counted nor retried).
///
/// The default: a failure (user exception or policy error) or an expected-like value without a
/// value is a failure; anything else is a success. `failure_if(pred)` adds results such as
/// HTTP 503; `ignore_if(pred)` excludes outcomes (e.g. a client's 404) from breaker statistics
/// and from retries; `failure_on<E...>` counts only the listed exception types.

#include <bulwark/core/outcome.hpp>
#include <bulwark/detail/enum_text.hpp>

#include <concepts>
#include <type_traits>
#include <utility>

namespace bulwark {

/// What an outcome means for a policy.
enum class verdict { success, failure, ignore };

/// The enumerator's name ("success", ...); "unknown" for a value outside the enum.
constexpr std::string_view to_string(verdict v) noexcept {
    switch (v) {
    case verdict::success:
        return "success";
    case verdict::failure:
        return "failure";
    case verdict::ignore:
        return "ignore";
    }
    return "unknown";
}

/// A callable that classifies `outcome<R>`.
template <class C, class R>
concept classifier_for = requires(const C& c, const outcome<R>& o) {
    { c(o) } -> std::convertible_to<verdict>;
};

/// Exceptions and policy errors fail; expected-like values without a value fail; else success.
struct default_classifier {
    template <class R>
    constexpr verdict operator()(const outcome<R>& o) const noexcept {
        if (o.has_failure())
            return verdict::failure;
        if constexpr (!std::is_void_v<R> && expected_like<R>) {
            if (!(*o).has_value())
                return verdict::failure;
        }
        return verdict::success;
    }
};

namespace detail {
/// Calls `pred` with the value when it accepts one, else with the whole outcome.
template <class Pred, class R>
constexpr bool test_value(const Pred& pred, const outcome<R>& o) {
    if constexpr (std::is_invocable_r_v<bool, const Pred&, const outcome<R>&>) {
        return pred(o);
    } else if constexpr (std::is_void_v<R>) {
        static_assert(std::is_invocable_r_v<bool, const Pred&>,
                      "bulwark::failure_if/ignore_if: for a void operation the predicate takes "
                      "no argument or the outcome<void>");
        return o.has_value() && pred();
    } else {
        static_assert(std::is_invocable_r_v<bool, const Pred&, const R&>,
                      "bulwark::failure_if/ignore_if: the predicate must be callable with the "
                      "operation's result (const R&) or with const outcome<R>&, returning bool");
        return o.has_value() && pred(*o);
    }
}
} // namespace detail

/// Classifier: the default rules, plus "a value for which `pred` holds is a failure".
template <class Pred, class Base = default_classifier>
struct failure_if_classifier {
    Pred pred;
    [[no_unique_address]] Base base{};
    template <class R>
    constexpr verdict operator()(const outcome<R>& o) const {
        if (o.has_value() && detail::test_value(pred, o))
            return verdict::failure;
        return base(o);
    }
};

/// Classifier: the default rules, except that outcomes for which `pred` holds are ignored.
template <class Pred, class Base = default_classifier>
struct ignore_if_classifier {
    Pred pred;
    [[no_unique_address]] Base base{};
    template <class R>
    constexpr verdict operator()(const outcome<R>& o) const {
        if (detail::test_value(pred, o))
            return verdict::ignore;
        return base(o);
    }
};

/// `failure_if([](const response& r) { return r.status == 503; })`.
template <class Pred>
constexpr failure_if_classifier<std::decay_t<Pred>> failure_if(Pred&& pred) {
    return {std::forward<Pred>(pred)};
}

/// `ignore_if([](const response& r) { return r.status == 404; })`.
template <class Pred>
constexpr ignore_if_classifier<std::decay_t<Pred>> ignore_if(Pred&& pred) {
    return {std::forward<Pred>(pred)};
}

/// Classifier: only user exceptions of the listed types (or derived) and bulwark's own errors are
/// failures; other exceptions are ignored. Values follow the default rules.
template <class... E>
struct failure_on_classifier {
    template <class R>
    verdict operator()(const outcome<R>& o) const noexcept {
        if (o.has_failure() && o.error().is_exception())
            return (o.error().template holds<E>() || ...) ? verdict::failure : verdict::ignore;
        return default_classifier{}(o);
    }
};

/// `failure_on<std::system_error, my_timeout>`.
template <class... E>
inline constexpr failure_on_classifier<E...> failure_on{};

/// Adapts any callable `verdict(const outcome<R>&)` (a generic lambda, say) as a classifier.
template <class F>
struct classify_with {
    F f;
    template <class R>
    constexpr verdict operator()(const outcome<R>& o) const {
        return f(o);
    }
};
template <class F>
classify_with(F) -> classify_with<F>;

} // namespace bulwark
