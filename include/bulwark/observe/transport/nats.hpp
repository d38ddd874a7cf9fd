#pragma once
/// \file
/// NATS connection events as bulwark events: `bulwark::nats_events_to(listener)` makes the
/// `nats_listener` of `nats_options::listener` from any listener of the event model
/// (`transport_connected`, `transport_disconnected`, `transport_reconnected`).
///
/// ```cpp
/// bulwark::nats_transport nats({.servers = {url},
///                               .listener = bulwark::nats_events_to(metrics.listener({.topic =
///                               "nats"}))});
/// ```

#include <bulwark/observe/events.hpp>
#include <bulwark/observe/listener.hpp>
#include <bulwark/transport/nats/options.hpp>

#include <utility>

namespace bulwark {

/// A `nats_listener` that forwards connection events to `l` (held by value: give a handle such
/// as `metrics_listener` or a `listener_ref`). `closed` and `error` have no event of their own:
/// `closed` is reported as a disconnection, `error` is not reported.
/// **Thread safety:** runs on cnats' event thread; `l` must be thread-safe.
template <class L>
nats_listener nats_events_to(L l) {
    return [l = std::move(l)](const nats_event& e) mutable {
        switch (e.kind) {
        case nats_event_kind::connected:
            emit(l, events::transport_connected{.server = e.url});
            break;
        case nats_event_kind::disconnected:
        case nats_event_kind::closed:
            emit(l, events::transport_disconnected{.server = e.url});
            break;
        case nats_event_kind::reconnected:
            emit(l, events::transport_reconnected{.server = e.url});
            break;
        case nats_event_kind::error:
            break;
        }
    };
}

} // namespace bulwark
