#pragma once
/// \file
/// The erased subscriber of one topic: a heap node holding the user's callable, called through
/// one function pointer. Whether the callable wants the message or its `envelope<T>` is decided
/// at subscribe time, so publishing to `const T&` handlers never builds metadata.

#include <bulwark/channel/detail/cow_list.hpp>
#include <bulwark/channel/envelope.hpp>

#include <cstddef>
#include <functional>
#include <type_traits>
#include <utility>

namespace bulwark::detail {

/// How a handler of `T` is called: with the message, or with its envelope.
template <class F, class T>
inline constexpr bool takes_message = std::is_invocable_v<F&, const T&>;
template <class F, class T>
inline constexpr bool takes_envelope =
    !takes_message<F, T> && std::is_invocable_v<F&, const envelope<T>&>;
template <class F, class T>
inline constexpr bool valid_handler = takes_message<F, T> || takes_envelope<F, T>;

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
        if constexpr (takes_message<F, T>)
            std::invoke(self->fn, m);
        else
            std::invoke(self->fn, envelope<T>{m, *md});
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
    if constexpr (takes_message<S, T>) {
        std::invoke(s, m);
        return 1;
    } else if constexpr (takes_envelope<S, T>) {
        std::invoke(s, envelope<T>{m, *md});
        return 1;
    } else {
        return 0;
    }
}

} // namespace bulwark::detail
