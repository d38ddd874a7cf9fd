#pragma once
/// \file
/// `nats_options`: how a `nats_transport` connects (servers, name, reconnect wait and jitter, max
/// reconnects, connect timeout, ...) and `nats_event`, what its listener is told about the
/// connection (connected, disconnected, reconnected, closed, error).

#include <bulwark/core/time.hpp>
#include <bulwark/detail/enum_text.hpp>
#include <bulwark/detail/validate.hpp>

#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace bulwark {

/// What happened to a NATS connection.
enum class nats_event_kind : unsigned char {
    connected,    ///< the first connection is up (`url` is the server)
    disconnected, ///< the connection was lost; the client reconnects (publishes are buffered)
    reconnected,  ///< back up (`url` is the server now: after a failover, another one)
    closed,       ///< closed for good (drain finished, `max_reconnects` reached, or destroyed)
    error,        ///< an asynchronous error (slow consumer, permissions); `detail` says which
};

/// The enumerator's name ("connected", ...); "unknown" for a value outside the enum.
constexpr std::string_view to_string(nats_event_kind v) noexcept {
    switch (v) {
    case nats_event_kind::connected:
        return "connected";
    case nats_event_kind::disconnected:
        return "disconnected";
    case nats_event_kind::reconnected:
        return "reconnected";
    case nats_event_kind::closed:
        return "closed";
    case nats_event_kind::error:
        return "error";
    }
    return "unknown";
}

/// One connection event, as a `nats_listener` receives it.
///
/// **Lifetime:** the views are valid only during the call.
struct nats_event {
    nats_event_kind kind;
    std::string_view url;    ///< the server connected to (empty when none)
    std::string_view detail; ///< for `error`: the text of the error
};

/// The connection-event listener. **Thread safety:** called on cnats' one event thread, never
/// under a lock of bulwark's; it must not block for long (it delays the other events).
using nats_listener = std::function<void(const nats_event&)>;

/// Settings of a `nats_transport` (cnats `natsOptions`). Defaults follow cnats, except
/// `max_reconnects` (60: two minutes of 2 s waits before the connection is closed for good).
struct nats_options {
    /// Server URLs (`nats://127.0.0.1:4222`); with several, the client fails over between them.
    std::vector<std::string> servers{"nats://127.0.0.1:4222"};
    /// The connection's name, shown by the server's monitoring.
    std::string name = "bulwark";
    /// How long one connection attempt may take.
    duration connect_timeout = std::chrono::seconds(2);
    /// Wait between reconnect attempts to the same server, plus up to `reconnect_jitter`.
    duration reconnect_wait = std::chrono::seconds(2);
    duration reconnect_jitter = std::chrono::milliseconds(100);
    /// Reconnect attempts before the connection is closed for good; -1 = forever.
    int max_reconnects = 60;
    /// Try the servers in random order (spreads clients over a cluster); false = list order.
    bool randomize_servers = true;
    /// Start even when no server is up yet: the constructor returns and the client keeps trying
    /// (the listener gets `connected` when it succeeds). Off: the constructor throws.
    bool retry_on_failed_connect = false;
    /// Bytes of publishes buffered while disconnected (sent after reconnecting).
    std::size_t reconnect_buffer_bytes = 8 * 1024 * 1024;
    /// Fail pending requests at once when the connection drops (instead of at their deadline).
    bool fail_requests_on_disconnect = true;
    /// Send each publish at once instead of batching in cnats' flusher: lower request latency
    /// (p50 ~1 ms -> ~0.35 ms on loopback), lower publish throughput.
    bool send_asap = false;
    /// How long `drain()` (and so the destructor) may take before the connection is closed.
    duration drain_timeout = std::chrono::seconds(5);
    /// Connection events (see `nats_event_kind`).
    nats_listener listener{};

    /// Throws `invalid_argument_error` for a setting out of range
    /// (`bulwark::nats_transport: connect_timeout must be > 0 (got 0ms)`).
    void validate() const {
        constexpr std::string_view c = "nats_transport";
        detail::require(!servers.empty(), c, "servers", "a non-empty list", std::size_t{0});
        for (const auto& s : servers)
            detail::require(!s.empty() && s.find(' ') == std::string::npos, c, "servers",
                            "URLs without spaces (nats://host:port)", s);
        auto ms = [](duration d) {
            return std::chrono::duration_cast<std::chrono::milliseconds>(d);
        };
        // Durations go to cnats in int64 milliseconds: any std duration fits; zero and negative
        // values are the errors.
        detail::require(connect_timeout >= std::chrono::milliseconds(1), c, "connect_timeout",
                        ">= 1ms", ms(connect_timeout));
        detail::require(reconnect_wait >= duration::zero(), c, "reconnect_wait", ">= 0",
                        ms(reconnect_wait));
        detail::require(reconnect_jitter >= duration::zero(), c, "reconnect_jitter", ">= 0",
                        ms(reconnect_jitter));
        detail::require(max_reconnects >= -1, c, "max_reconnects", ">= -1 (-1 = forever)",
                        max_reconnects);
        detail::require(reconnect_buffer_bytes <= static_cast<std::size_t>(INT_MAX), c,
                        "reconnect_buffer_bytes", "<= INT_MAX", reconnect_buffer_bytes);
        detail::require(drain_timeout >= std::chrono::milliseconds(1), c, "drain_timeout", ">= 1ms",
                        ms(drain_timeout));
    }
};

} // namespace bulwark
