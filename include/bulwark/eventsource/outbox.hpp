#pragma once
/// \file
/// The transactional outbox: a store that appends events and enqueues their messages in one
/// transaction (`append(stream, events, expected, subject)`), and `outbox_relay`, which publishes
/// the enqueued messages to any byte `message_transport` with the event id as message id and then
/// marks them sent.
///
/// ```cpp
/// store.append("order-7", events, 3, "orders.events");     // events + messages, one commit
/// bulwark::outbox_relay relay{store, transport};
/// relay.relay_pending();                                     // publish, then mark sent
/// ```
/// Guarantee (MassTransit's bus outbox, NServiceBus's outbox): every committed event is published
/// at least once — a crash after the commit leaves its messages pending, and the next relay
/// publishes them. A crash after a publish and before its mark re-publishes it with the same
/// message id: the broker's de-duplication (JetStream `Nats-Msg-Id` within its window) or the
/// consumer's (`bulwark::idempotent`) drops the copy. Per stream, messages go out in version order.

#include <bulwark/core/headers.hpp>
#include <bulwark/core/outcome.hpp>
#include <bulwark/detail/validate.hpp>
#include <bulwark/transport/message_transport.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bulwark {

/// One enqueued message of the outbox.
struct outbox_message {
    std::uint64_t position = 0; ///< order of enqueueing (the relay publishes in this order)
    std::string id;             ///< the event id: the message id on the wire
    std::string subject;
    std::string type;
    std::string stream;
    std::uint64_t version = 0;
    std::string payload;
};

/// Header names the relay sets (beside `header::message_id`).
namespace header {
/// JetStream's de-duplication header: a re-publish within the stream's window is dropped.
inline constexpr std::string_view nats_msg_id = "Nats-Msg-Id";
inline constexpr std::string_view event_type = "event-type";
inline constexpr std::string_view event_stream = "event-stream";
inline constexpr std::string_view event_version = "event-version";
} // namespace header

/// A store with an outbox: `pending_outbox(max)` (oldest unsent first) and `mark_sent(positions)`.
template <class S>
concept outbox_store = requires(S& s, std::size_t max, std::span<const std::uint64_t> positions) {
    { s.pending_outbox(max) } -> std::same_as<outcome<std::vector<outbox_message>>>;
    { s.mark_sent(positions) } -> std::same_as<outcome<void>>;
};

/// Settings of `outbox_relay`.
struct outbox_relay_options {
    /// Messages read and published per round (each round ends with one `mark_sent`).
    std::size_t batch = 100;
};

/// Publishes an outbox to a message transport.
///
/// **Failure semantics:** a publish that fails stops the round: what was published before it is
/// marked sent, the rest stays pending (in order) for the next round; the failure is returned.
/// A failing `mark_sent` leaves the published messages pending: they go out again, with the same
/// message id (at least once).
/// **Thread safety:** one relay per outbox at a time (run it on one thread; two relays would
/// publish the same messages twice — harmless for an idempotent consumer, but wasteful).
/// **Allocation:** the pending batch and one header map per message.
template <outbox_store Store, message_transport Transport>
class outbox_relay {
public:
    outbox_relay(Store& store, Transport& transport, outbox_relay_options opts = {})
        : store_(store)
        , transport_(transport)
        , opts_(opts) {
        detail::require(opts_.batch >= 1 && opts_.batch <= 100000, "outbox_relay", "batch",
                        "in [1, 100000]", opts_.batch);
    }

    /// One round: publishes up to `batch` pending messages, marks them sent; returns how many.
    outcome<std::size_t> relay_once() {
        auto pending = store_.pending_outbox(opts_.batch);
        if (!pending)
            return pending.error();
        std::vector<std::uint64_t> done;
        done.reserve(pending->size());
        std::optional<failure> failed;
        for (const auto& m : *pending) {
            header_map h;
            h.set(header::message_id, m.id);
            h.set(header::nats_msg_id, m.id);
            h.set(header::event_type, m.type);
            h.set(header::event_stream, m.stream);
            h.set(header::event_version, std::to_string(m.version));
            auto bytes = std::as_bytes(std::span{m.payload.data(), m.payload.size()});
            auto r = transport_.publish(m.subject, h, bytes);
            if (!r) {
                failed = r.error();
                break;
            }
            done.push_back(m.position);
        }
        if (!done.empty()) {
            auto marked = store_.mark_sent(done);
            if (!marked)
                return marked.error();
        }
        if (failed)
            return *failed;
        return done.size();
    }

    /// Rounds until nothing is pending (or a round fails); returns how many were published.
    outcome<std::size_t> relay_pending() {
        std::size_t total = 0;
        for (;;) {
            auto n = relay_once();
            if (!n)
                return n.error();
            total += *n;
            if (*n < opts_.batch)
                return total;
        }
    }

private:
    Store& store_;
    Transport& transport_;
    outbox_relay_options opts_;
};

} // namespace bulwark
