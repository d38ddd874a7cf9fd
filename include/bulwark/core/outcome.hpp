#pragma once
/// \file
/// `outcome<R>`: what one execution produced — a value of `R`, or a `failure` (a user exception
/// caught once, or a policy's own error such as an open breaker). Every policy sees outcomes;
/// the pipeline turns the final one back into a value or an exception at the edge.

#include <bulwark/core/error.hpp>

#include <concepts>
#include <functional>
#include <type_traits>
#include <utility>
#include <variant>

namespace bulwark {

/// Types with `has_value()` and `error()`: `std::expected`, `tl::expected`, `outcome` and the
/// like. An expected-like result without a value is a failure for the default classifier.
template <class T>
concept expected_like = requires(const T& t) {
    { t.has_value() } -> std::convertible_to<bool>;
    t.error();
};

/// The result of one execution: a value, or a `failure`.
///
/// **Failure semantics:** `value()` on a failure raises it (`failure::raise`).
/// **Allocation:** none beyond `R`'s own.
template <class R>
class [[nodiscard]] outcome {
    using stored = std::conditional_t<std::is_void_v<R>, std::monostate, R>;

public:
    using value_type = R;

    /// A value-initialized `R` (or the void success).
    outcome() requires std::is_default_constructible_v<stored>
    = default;
    template <class U = stored>
    requires(!std::is_void_v<R> && std::constructible_from<stored, U&&> &&
             !std::same_as<std::remove_cvref_t<U>, outcome> &&
             !std::same_as<std::remove_cvref_t<U>, failure>) outcome(U&& value)
    noexcept(std::is_nothrow_constructible_v<stored, U&&>)
        : v_(std::in_place_index<0>, std::forward<U>(value)) {}
    outcome(failure f) noexcept
        : v_(std::in_place_index<1>, std::move(f)) {}
    outcome(errc code, duration retry_after = duration::zero()) noexcept
        : v_(std::in_place_index<1>, failure{code, {}, retry_after}) {}

    /// The success of an `outcome<void>`.
    static outcome success() noexcept requires std::is_void_v<R> { return outcome{}; }
    /// Captures the exception being handled (call inside a `catch`).
    static outcome current_exception() noexcept { return outcome{failure::current_exception()}; }

    bool has_value() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }
    bool has_failure() const noexcept { return v_.index() == 1; }

    /// The failure. Precondition: `has_failure()`.
    const failure& error() const& noexcept { return *std::get_if<1>(&v_); }
    failure& error() & noexcept { return *std::get_if<1>(&v_); }
    /// The bulwark code of the failure (`errc::exception` for user exceptions).
    errc code() const noexcept { return error().code; }

    /// The value; raises the failure when there is none.
    decltype(auto) value() & {
        ensure();
        if constexpr (!std::is_void_v<R>)
            return (*std::get_if<0>(&v_));
    }
    decltype(auto) value() const& {
        ensure();
        if constexpr (!std::is_void_v<R>)
            return (*std::get_if<0>(&v_));
    }
    R value() && {
        ensure();
        if constexpr (!std::is_void_v<R>)
            return std::move(*std::get_if<0>(&v_));
    }

    template <class Self = outcome>
    requires(!std::is_void_v<R>) const stored& operator*() const& noexcept {
        return *std::get_if<0>(&v_);
    }
    template <class Self = outcome>
    requires(!std::is_void_v<R>) stored& operator*() & noexcept { return *std::get_if<0>(&v_); }
    template <class Self = outcome>
    requires(!std::is_void_v<R>) const stored* operator->() const noexcept {
        return std::get_if<0>(&v_);
    }

private:
    void ensure() const {
        if (v_.index() != 0) [[unlikely]]
            std::get_if<1>(&v_)->raise();
    }
    std::variant<stored, failure> v_;
};

namespace detail {
template <class T>
struct is_outcome : std::false_type {};
template <class R>
struct is_outcome<outcome<R>> : std::true_type {};
} // namespace detail

/// True for `outcome<R>` types.
template <class T>
inline constexpr bool is_outcome_v = detail::is_outcome<std::remove_cvref_t<T>>::value;

/// Runs `f(args...)` and captures its result or exception into an `outcome` — the one place
/// where bulwark catches user exceptions. A callable that already returns an `outcome` is
/// passed through.
template <class F, class... Args>
auto capture(F&& f, Args&&... args) noexcept {
    using raw = std::invoke_result_t<F, Args...>;
    if constexpr (is_outcome_v<raw>) {
        using out = std::remove_cvref_t<raw>;
        try {
            return out(std::invoke(std::forward<F>(f), std::forward<Args>(args)...));
        } catch (...) {
            return out::current_exception();
        }
    } else {
        using out = outcome<raw>;
        try {
            if constexpr (std::is_void_v<raw>) {
                std::invoke(std::forward<F>(f), std::forward<Args>(args)...);
                return out::success();
            } else {
                return out(std::invoke(std::forward<F>(f), std::forward<Args>(args)...));
            }
        } catch (...) {
            return out::current_exception();
        }
    }
}

} // namespace bulwark
