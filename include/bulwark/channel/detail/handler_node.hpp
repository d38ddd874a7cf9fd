#pragma once
/// \file
/// The erased subscriber of one topic: a heap node holding the user's callable, called through
/// one function pointer. Whether the callable wants the message or its `envelope<T>` is decided
/// at subscribe time, so publishing to `const T&` handlers never builds metadata.

#include <bulwark/channel/detail/cow_list.hpp>
#include <bulwark/channel/envelope.hpp>
#include <bulwark/channel/handler.hpp>
#include <bulwark/observe/events.hpp>
#include <bulwark/observe/listener.hpp>

#include <cstddef>
#include <functional>
#include <string_view>
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

/// Runs one handler call `call()` as a delivery heard by `l`: `channel_delivered` before it,
/// `channel_nacked` when it throws (the exception then goes on to the publisher). For a
/// listener that hears neither (`null_listener`) this is `call()` and nothing else.
template <class L, class Call>
[[gnu::always_inline]] inline void deliver_heard(L& l, std::string_view subject, Call&& call) {
    bulwark::emit(l, events::channel_delivered{subject, 1});
    if constexpr (hears<L, events::channel_nacked>) {
        try {
            call();
        } catch (...) {
            bulwark::emit(l, events::channel_nacked{subject, 1});
            throw;
        }
    } else {
        call();
    }
}

/// Calls every live handler of a snapshot; returns how many were called. `md` may be null when
/// no handler of the snapshot wants an envelope. `l` hears each call (see `deliver_heard`).
template <class Policy, class T, class L = null_listener>
std::size_t dispatch(snapshot<handler_node<Policy, T>>* s, const T& m, const message_metadata* md,
                     L& l, std::string_view subject) {
    std::size_t called = 0;
    for (auto& it : *s) {
        if (load_acquire(it.node->live)) [[likely]] {
            deliver_heard(l, subject, [&] { it.call(it.node, m, md); });
            ++called;
        }
    }
    return called;
}

/// `dispatch` with metadata made here, for a snapshot with an envelope handler and a publish
/// without metadata (kept out of line: the common path never touches a `message_metadata`).
template <class Policy, class T, class L>
[[gnu::noinline]] std::size_t dispatch_stamped(snapshot<handler_node<Policy, T>>* s, const T& m,
                                               L& l, std::string_view subject) {
    message_metadata md;
    stamp(md);
    return dispatch<Policy, T>(s, m, &md, l, subject);
}

/// A publish without metadata: reads `plain_size` once, and walks the snapshot's items with no
/// further check than each handler's liveness; an empty snapshot, or one with an envelope
/// handler (which needs metadata stamped first), goes out of line.
template <class Policy, class T, class L>
[[gnu::always_inline]] inline std::size_t
dispatch_plain(snapshot<handler_node<Policy, T>>* s, const T& m, L& l, std::string_view subject) {
    const std::size_t n = s->plain_size;
    if (n == 0) [[unlikely]]
        return s->size == 0 ? 0 : dispatch_stamped<Policy, T>(s, m, l, subject);
    auto* it = s->items();
    auto* const end = it + n;
    std::size_t called = 0;
    do {
        if (load_acquire(it->node->live)) [[likely]] {
            deliver_heard(l, subject, [&] { it->call(it->node, m, nullptr); });
            ++called;
        }
    } while (++it != end);
    return called;
}

/// A handler for every topic it accepts, among a compile-time list of static subscribers.
template <class T, class S, class L = null_listener>
std::size_t call_static(S& s, const T& m, const message_metadata* md, L& l,
                        std::string_view subject) {
    if constexpr (valid_handler<S, T>) {
        deliver_heard(l, subject, [&] {
            call_handler<const envelope<T>&>(s, m, [&] { return envelope<T>{m, *md}; });
        });
        return 1;
    } else {
        return 0;
    }
}

} // namespace bulwark::detail
