#pragma once
/// \file
/// The erased subscriber of one topic: a heap node holding the user's callable, called through
/// one function pointer. Whether the callable wants the message or its `envelope<T>` is decided
/// at subscribe time, so publishing to `const T&` handlers never builds metadata.

#include <bulwark/channel/detail/cow_list.hpp>
#include <bulwark/channel/envelope.hpp>
#include <bulwark/channel/handler.hpp>

#include <cstddef>
#include <functional>
#include <type_traits>
#include <utility>

namespace bulwark::detail {

/// How the sync bus calls a handler of `T` (the shared rule of channel/handler.hpp: the
/// message, else its envelope; the sync bus has no explicit-ack handle).
template <class F, class T>
inline constexpr handler_shape bus_shape = handler_shape_of<F, const T&, const envelope<T>&>;
template <class F, class T>
inline constexpr bool takes_message = bus_shape<F, T> == handler_shape::message;
template <class F, class T>
inline constexpr bool takes_envelope = bus_shape<F, T> == handler_shape::envelope;
template <class F, class T>
inline constexpr bool valid_handler = bus_shape<F, T> != handler_shape::none;

template <class Policy, class T>
struct handler_node : node_base<Policy> {
    void (*call)(handler_node*, const T&, const message_metadata*) = nullptr;
};

template <class Policy, class T, class F>
struct handler_node_impl final : handler_node<Policy, T> {
    F fn;
    template <class G>
    explicit handler_node_impl(G&& g)
        : fn(std::forward<G>(g)) {
        this->destroy = [](node_base<Policy>* n) noexcept {
            delete static_cast<handler_node_impl*>(n);
        };
        this->call = &invoke;
        this->wants_envelope = takes_envelope<F, T>;
    }
    static void invoke(handler_node<Policy, T>* n, const T& m, const message_metadata* md) {
        auto* self = static_cast<handler_node_impl*>(n);
        call_handler<const envelope<T>&>(self->fn, m, [&] { return envelope<T>{m, *md}; });
    }
};

/// Calls every live handler of a snapshot; returns how many were called. `md` may be null when
/// no handler of the snapshot wants an envelope.
template <class Policy, class T>
std::size_t dispatch(snapshot<handler_node<Policy, T>>* s, const T& m, const message_metadata* md) {
    std::size_t called = 0;
    for (auto& it : *s) {
        if (it.node->live.load(std::memory_order_acquire)) [[likely]] {
            it.call(it.node, m, md);
            ++called;
        }
    }
    return called;
}

/// `dispatch` with metadata made here, for a snapshot with an envelope handler and a publish
/// without metadata (kept out of line: the common path never touches a `message_metadata`).
template <class Policy, class T>
[[gnu::noinline]] std::size_t dispatch_stamped(snapshot<handler_node<Policy, T>>* s, const T& m) {
    message_metadata md;
    stamp(md);
    return dispatch<Policy, T>(s, m, &md);
}

/// A handler for every topic it accepts, among a compile-time list of static subscribers.
template <class T, class S>
std::size_t call_static(S& s, const T& m, const message_metadata* md) {
    if constexpr (valid_handler<S, T>) {
        call_handler<const envelope<T>&>(s, m, [&] { return envelope<T>{m, *md}; });
        return 1;
    } else {
        return 0;
    }
}

} // namespace bulwark::detail
