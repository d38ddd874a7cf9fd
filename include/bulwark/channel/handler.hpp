#pragma once
/// \file
/// The handler shapes of bulwark's messaging fronts, and the one adapter that calls them.
///
/// Every front (`bus`, `async_bus`, `async_channel`) accepts the same three shapes, decided once
/// at subscribe time and with one precedence everywhere:
///   1. the front's explicit-ack handle (`bus_delivery<M>&`, `delivery<T>&`), where it has one:
///      the handler settles it (ack / nack / dead_letter);
///   2. the message (`const M&`, or `M&` on the async fronts, which own their copy): returning
///      acks, throwing nacks;
///   3. its `const envelope<M>&` (message and metadata), where the front carries metadata:
///      returning acks, throwing nacks.
/// A callable that fits none is rejected by the front's static_assert.

#include <bulwark/channel/envelope.hpp>
#include <bulwark/detail/enum_text.hpp>

#include <functional>
#include <type_traits>
#include <utility>

namespace bulwark {

/// How a handler is called.
enum class handler_shape : unsigned char {
    none,     ///< not a handler of this front's messages
    delivery, ///< with the front's explicit-ack handle
    message,  ///< with the message
    envelope, ///< with the message's envelope
};

/// The enumerator's name ("none", ...); "unknown" for a value outside the enum.
constexpr std::string_view to_string(handler_shape v) noexcept {
    switch (v) {
    case handler_shape::none:
        return "none";
    case handler_shape::delivery:
        return "delivery";
    case handler_shape::message:
        return "message";
    case handler_shape::envelope:
        return "envelope";
    }
    return "unknown";
}

/// The shape of `F` on a front that passes the message as `Msg` (e.g. `const M&`), the envelope
/// as `Env` (`void`: the front has no metadata) and the explicit-ack handle as `Del` (`void`:
/// the front has none).
template <class F, class Msg, class Env = void, class Del = void>
inline constexpr handler_shape handler_shape_of = [] {
    if constexpr (!std::is_void_v<Del> && std::is_invocable_v<F&, Del>)
        return handler_shape::delivery;
    else if constexpr (std::is_invocable_v<F&, Msg>)
        return handler_shape::message;
    else if constexpr (!std::is_void_v<Env> && std::is_invocable_v<F&, Env>)
        return handler_shape::envelope;
    else
        return handler_shape::none;
}();

namespace detail {

/// Calls `f` with the message or the envelope (`make_env()` builds it, only for that shape).
template <class Env, class F, class Msg, class MakeEnv>
void call_handler(F& f, Msg&& m, MakeEnv&& make_env) {
    constexpr handler_shape s = handler_shape_of<F, Msg&&, Env>;
    static_assert(s == handler_shape::message || s == handler_shape::envelope);
    if constexpr (s == handler_shape::message)
        std::invoke(f, std::forward<Msg>(m));
    else
        std::invoke(f, make_env());
}

/// The same on a front with an explicit-ack handle `d`: a handler that takes the handle
/// settles it; any other shape acks by returning (an exception propagates: the caller nacks).
template <class Env, class F, class Del, class Msg, class MakeEnv>
void call_handler_acked(F& f, Del& d, Msg&& m, MakeEnv&& make_env) {
    if constexpr (handler_shape_of<F, Msg&&, Env, Del&> == handler_shape::delivery) {
        std::invoke(f, d);
    } else {
        call_handler<Env>(f, std::forward<Msg>(m), std::forward<MakeEnv>(make_env));
        d.ack();
    }
}

} // namespace detail
} // namespace bulwark
