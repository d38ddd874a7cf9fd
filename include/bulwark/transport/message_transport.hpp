#pragma once
/// \file
/// The messaging seam: what a transport under `bus<Topics, Transport>` must do.
///
/// A transport opts in with a tag (`using transport_concept = bulwark::transport_tag;`) so that
/// no type matches by accident. Two kinds share the same verbs:
/// - a **byte transport** (`message_transport`) moves subject + headers + bytes: NATS, and the
///   in-process transport's byte face. The typed front encodes through a `codec` and carries the
///   envelope as headers.
/// - a **typed transport** (the in-process default) moves `const M&` within one process: no
///   encoding, no allocation per publish. Its concept is declared by the in-process transport.
///
/// The verbs: publish to a subject with headers; subscribe to a subject pattern (NATS wildcards
/// `*` and `>`) with an optional queue group (each message to one member of the group);
/// request with a deadline, where nobody listening is `errc::no_responders` at once and a passed
/// deadline is `errc::timeout`; drain (deliver what was accepted, then stop).

#include <bulwark/core/headers.hpp>
#include <bulwark/core/outcome.hpp>
#include <bulwark/core/time.hpp>
#include <bulwark/detail/enum_text.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace bulwark {

/// The opt-in tag of every transport (`using transport_concept = bulwark::transport_tag;`).
struct transport_tag {};

/// What a subscriber callback tells a transport with acknowledgements (JetStream) to do with the
/// message it was handed. Transports without acks (core NATS, in-process) ignore it.
struct settle {
    enum class kind : std::uint8_t {
        ack,  ///< handled: never deliver it again
        nack, ///< not handled: deliver again after `delay`
        term, ///< never deliver it again, and do not count it as handled (dead-lettered)
    };
    kind what = kind::ack;
    duration delay{}; ///< with `nack`: how long before the redelivery

    static constexpr settle ack() noexcept { return {}; }
    static constexpr settle nack(duration d = {}) noexcept { return {kind::nack, d}; }
    static constexpr settle term() noexcept { return {kind::term, {}}; }
};

/// The enumerator's name ("ack", ...); "unknown" for a value outside the enum.
constexpr std::string_view to_string(settle::kind v) noexcept {
    switch (v) {
    case settle::kind::ack:
        return "ack";
    case settle::kind::nack:
        return "nack";
    case settle::kind::term:
        return "term";
    }
    return "unknown";
}

/// One received message as a byte transport hands it to a subscriber callback.
///
/// **Lifetime:** every view is valid only during the callback; copy what must outlive it.
struct message_view {
    std::string_view subject;
    std::string_view reply_to;           ///< empty when the sender expects no reply
    const header_map* headers = nullptr; ///< never null inside a callback
    std::span<const std::byte> data;
    std::uint32_t delivery_count = 1; ///< 1 on first delivery; > 1 on a redelivery (JetStream)
};

/// A message that outlives the callback (a request's reply, a dead letter).
struct received_message {
    std::string subject;
    header_map headers;
    std::vector<std::byte> data;
};

/// The callback a byte transport calls for each message of a subscription. It runs on the
/// transport's delivery thread, never under a lock of bulwark's.
using message_handler = std::function<settle(const message_view&)>;

namespace detail {
template <class T>
concept transport_tagged = requires {
    typename T::transport_concept;
}
&&std::derived_from<typename T::transport_concept, transport_tag>;
} // namespace detail

/// A byte message transport.
///
/// - `publish(subject, headers, bytes)` → `outcome<void>`: accepted for delivery (not that anyone
///   received it: publish/subscribe is fire-and-forget unless the transport acknowledges).
/// - `subscribe(pattern, queue_group, handler)` → an RAII handle with `unsubscribe()`; an empty
///   queue group means every subscriber gets every message.
/// - `request(subject, headers, bytes, deadline)` → `outcome<received_message>`:
///   `errc::no_responders` at once when nobody listens, `errc::timeout` past the deadline.
/// - `drain()`: deliver what was accepted, let running callbacks finish, then stop delivering.
template <class T>
concept message_transport = detail::transport_tagged<T> &&
    requires(T& t, std::string_view subject, const header_map& h, std::span<const std::byte> data,
             time_point deadline, message_handler handler) {
    { t.publish(subject, h, data) } -> std::same_as<outcome<void>>;
    {t.subscribe(subject, std::string_view{}, std::move(handler))};
    t.subscribe(subject, std::string_view{}, std::move(handler)).unsubscribe();
    { t.request(subject, h, data, deadline) } -> std::same_as<outcome<received_message>>;
    t.drain();
};

} // namespace bulwark
