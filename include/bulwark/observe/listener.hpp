#pragma once
/// \file
/// Listeners: a listener is any type with `on(const E&)` overloads for the events
/// (<bulwark/observe/events.hpp>) it wants. Emitters call `bulwark::emit(listener, event)`; an
/// event the listener has no overload for compiles to nothing (the event is not even built when
/// the emitter uses `bulwark::hears<L, E>` around costly fields).
///
/// ```cpp
/// struct log_breaker {
///     void on(const bulwark::events::breaker_state_changed& e) { ... }
/// };
/// bulwark::listeners both{log_breaker{}, registry.listener({.policy = "payments"})};
/// ```

#include <bulwark/observe/events.hpp>

#include <functional>
#include <type_traits>
#include <utility>

namespace bulwark {

/// True when `L` has an `on(const E&)` the emitter can call.
template <class L, class E>
concept listens_to = requires(L& l, const E& e) {
    l.on(e);
};

/// `hears<L, E>`: a constant for `if constexpr`, to skip building a costly event (a clock read)
/// for a listener that does not want it.
template <class L, class E>
inline constexpr bool hears = listens_to<std::remove_cvref_t<L>, E>;

/// Delivers `e` to `l` if `l` listens to `E`; otherwise compiles to nothing.
///
/// **Allocation:** none by itself. **Thread safety:** the listener's own (emitters call it on
/// the thread where the event happens, possibly many at once).
template <class L, class E>
constexpr void emit(L& l, const E& e) {
    if constexpr (listens_to<L, E>)
        l.on(e);
}

/// The default listener: hears nothing and occupies no storage
/// (`[[no_unique_address]] Listener listener;` in a policy costs 0 bytes).
struct null_listener {};
static_assert(std::is_empty_v<null_listener>);

/// A listener that refers to another (to share one stateful listener among policies, or keep
/// reading a listener that a policy copied): `bulwark::listener_ref{my_listener}`.
/// **Lifetime:** the referred listener must outlive every emitter that holds the ref.
/// A default-made ref refers to nothing and drops events (so that a policy holding one can be
/// default-made).
template <class L>
class listener_ref {
public:
    listener_ref() noexcept = default;
    explicit listener_ref(L& l) noexcept
        : l_(&l) {}
    /// Forwards an event the referred listener hears.
    template <class E>
    requires listens_to<L, E>
    void on(const E& e) const {
        if (l_ != nullptr) [[likely]]
            l_->on(e);
    }
    L& get() const noexcept { return *l_; }

private:
    L* l_ = nullptr;
};

namespace detail {
/// The members of `listeners`: a recursive pack of `[[no_unique_address]]` members, so that
/// empty listeners take no storage next to a stateful one (std::tuple does not guarantee it).
template <class... L>
struct listener_pack {
    template <class E>
    void emit_all(const E&) {}
};
template <class H, class... T>
struct listener_pack<H, T...> {
    [[no_unique_address]] H head;
    [[no_unique_address]] listener_pack<T...> tail;

    template <class E>
    void emit_all(const E& e) {
        bulwark::emit(head, e);
        tail.emit_all(e);
    }
    template <std::size_t I>
    auto& get() noexcept {
        if constexpr (I == 0)
            return head;
        else
            return tail.template get<I - 1>();
    }
};
} // namespace detail

/// Several listeners as one: each event goes to every member that hears it, in order.
///
/// `bulwark::listeners{metrics, tracer, my_log}`. Members are held by value (wrap a stateful one
/// in `listener_ref` to share it). Empty members take no storage next to a stateful one.
template <class... L>
class listeners {
public:
    listeners() = default;
    explicit listeners(L... ls)
        : members_(make(std::move(ls)...)) {}

    /// Forwards `e` to each member that listens to `E`.
    template <class E>
    requires(listens_to<L, E> || ...) void on(const E& e) { members_.emit_all(e); }

    /// The member at `I`.
    template <std::size_t I>
    auto& get() noexcept {
        return members_.template get<I>();
    }

private:
    template <class H, class... T>
    static detail::listener_pack<H, T...> make(H h, T... t) {
        return {std::move(h), make(std::move(t)...)};
    }
    static detail::listener_pack<> make() { return {}; }

    [[no_unique_address]] detail::listener_pack<L...> members_;
};

template <class... L>
listeners(L...) -> listeners<L...>;

static_assert(std::is_empty_v<listeners<null_listener>>,
              "composing an empty listener must cost nothing");

/// A listener made of one lambda per event kind it wants:
/// `bulwark::on_events{[](const events::retry_attempt& e) { ... }, [](const events::hedge_winner&)
/// {}}`.
template <class... F>
struct on_events : F... {
    using F::operator()...;
    /// Calls the lambda that takes `E`.
    template <class E>
    requires(std::is_invocable_v<F&, const E&> || ...) void on(const E& e) { (*this)(e); }
};
template <class... F>
on_events(F...) -> on_events<F...>;

} // namespace bulwark
