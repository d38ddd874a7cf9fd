#pragma once
/// \file
/// Channel events without touching a channel: wrap the handler, the dead-letter sink and the
/// publish of an `async_channel` (or `async_bus` topic) so that a listener hears
/// `channel_published`, `channel_dropped` (a publish refused with `errc::queue_full`),
/// `channel_delivered`, `channel_redelivered` (a delivery after the first), `channel_nacked` and
/// `channel_dead_lettered`.
///
/// ```cpp
/// auto l = metrics.listener({.topic = "orders.created"});
/// bulwark::async_channel<order> ch(bulwark::observe_handler(handle, l, "orders.created"),
///     {.delivery = bulwark::at_least_once{},
///      .dead_letter = bulwark::observe_dead_letters<order>(box.sink(), l, "orders.created")});
/// bulwark::observe_publish(ch, order{...}, l, "orders.created");
/// ```
/// Drops under `overflow::drop_oldest` / `drop_newest` are heard through `observe_drops` (the
/// channel's `on_drop` hook). Not heard: duplicates the idempotent consumer acks (read
/// `dedupe_window::duplicates()`), redeliveries being scheduled.
///
/// Prefer the channel's own listener parameter (`async_channel<T, Queue, Overflow, L>(handler,
/// options, l, subject)`, `async_bus<Topics, Queue, Overflow, L>{l}`): it hears every channel
/// event where it happens, including `channel_redelivery_scheduled` and
/// `channel_duplicate_dropped`. These wrappers stay for existing code; do not combine the two on
/// one channel (each event would be counted twice).

#include <bulwark/channel/dead_letter.hpp>
#include <bulwark/channel/delivery.hpp>
#include <bulwark/core/error.hpp>
#include <bulwark/observe/events.hpp>
#include <bulwark/observe/listener.hpp>

#include <functional>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace bulwark {

/// A channel handler that reports deliveries, redeliveries and nacks to a listener, then runs
/// `handler` (either `void(T&)`, whose exception nacks, or `void(delivery<T>&)`).
///
/// **Allocation:** none of its own. **Thread safety:** as the listener (handlers run on the
/// channel's consumer threads). **Lifetime:** `subject` must outlive the handler (a literal).
template <class T, class Handler, class Listener>
struct observed_handler {
    Handler handler;
    [[no_unique_address]] Listener listener;
    std::string_view subject;

    void operator()(delivery<T>& d) {
        bulwark::emit(listener, events::channel_delivered{subject, d.attempt()});
        if (d.attempt() > 1)
            bulwark::emit(listener, events::channel_redelivered{subject, d.attempt(), {}});
        try {
            if constexpr (std::is_invocable_v<Handler&, delivery<T>&>)
                handler(d);
            else
                handler(d.message());
        } catch (...) {
            bulwark::emit(listener, events::channel_nacked{subject, d.attempt()});
            throw;
        }
        if (d.state() == delivery_state::nacked)
            bulwark::emit(listener, events::channel_nacked{subject, d.attempt()});
    }
};

/// Wraps `handler` for messages `T` (see `observed_handler`).
template <class T, class Handler, class Listener>
observed_handler<T, std::decay_t<Handler>, std::decay_t<Listener>>
observe_handler(Handler&& handler, Listener&& listener, std::string_view subject) {
    return {std::forward<Handler>(handler), std::forward<Listener>(listener), subject};
}

/// Wraps a dead-letter sink: reports `channel_dead_lettered` (kind, reason), then forwards.
template <class T, class Listener>
dead_letter_sink<T> observe_dead_letters(dead_letter_sink<T> sink, Listener listener,
                                         std::string_view subject) {
    return [sink = std::move(sink), listener = std::move(listener),
            subject](dead_letter<T>&& dl) mutable {
        bulwark::emit(listener, events::channel_dead_lettered{subject, dl.kind, dl.reason});
        if (sink)
            sink(std::move(dl));
    };
}

/// An `on_drop` hook for `async_channel_options::on_drop` (drop_oldest / drop_newest): reports
/// `channel_dropped`.
template <class T, class Listener>
std::function<void(const T&)> observe_drops(Listener listener, std::string_view subject) {
    return [listener = std::move(listener), subject](const T&) mutable {
        bulwark::emit(listener, events::channel_dropped{subject});
    };
}

/// Publishes `msg` on `channel` (anything with `std::error_code publish(T)`) and reports
/// `channel_published`, or `channel_dropped` when the channel refused it as full.
template <class Channel, class T, class Listener>
std::error_code observe_publish(Channel& channel, T&& msg, Listener& listener,
                                std::string_view subject) {
    const std::error_code ec = channel.publish(std::forward<T>(msg));
    if (!ec)
        bulwark::emit(listener, events::channel_published{subject});
    else if (ec == make_error_code(errc::queue_full))
        bulwark::emit(listener, events::channel_dropped{subject});
    return ec;
}

} // namespace bulwark
