#pragma once
/// \file
/// `jetstream_bus<Topics, Codec>`: the typed asynchronous bus with at-least-once delivery over
/// JetStream, with the API of the in-process `async_bus` (subscribe with `async_bus_options`,
/// `publish(m, {.metadata, .key})`, the same three handler forms, the same dedupe window) — so a
/// service moves from one process to many by changing the bus type.
///
/// ```cpp
/// bulwark::nats_transport nats({.servers = {"nats://127.0.0.1:4222"}});
/// bulwark::jetstream js(nats);
/// bulwark::jetstream_bus<shop_topics, bulwark::json_codec> bus(js, {.stream = "SHOP"});
/// bus.subscribe<order_created>([](const order_created& e) { ... },
///                              {.consumers = 2, .delivery = bulwark::at_least_once{.max_deliveries
///                              = 5}});
/// bus.publish(order_created{"o-1", 99.9});   // stored (publish ack) before it returns
/// bus.publish(order_created{"o-2", 5.0}, {.key = "customer-7"});  // per-key order
/// ```
///
/// What travels: the message encoded by `Codec` (with `content-type` and `schema-version`
/// headers: an older payload is upcast, see codec/schema.hpp), the envelope as headers
/// (`message-id`, which is also the `Nats-Msg-Id`, `correlation-id`, `causation-id`,
/// `timestamp`, `traceparent`), and the key of `publish(m, {.key = k})` as `partition-key`
/// (the decimal `std::hash` of the key, as `message_key` computes it).

#include <bulwark/channel/async_bus.hpp>
#include <bulwark/channel/dead_letter.hpp>
#include <bulwark/channel/delivery.hpp>
#include <bulwark/channel/envelope.hpp>
#include <bulwark/channel/idempotent.hpp>
#include <bulwark/channel/subscription.hpp>
#include <bulwark/channel/topics.hpp>
#include <bulwark/codec/schema.hpp>
#include <bulwark/core/error.hpp>
#include <bulwark/transport/nats/consumer.hpp>
#include <bulwark/transport/nats/jetstream.hpp>

#include <array>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace bulwark {

/// Settings of a `jetstream_bus`.
struct jetstream_bus_options {
    /// The stream that stores the topics; declared (idempotently) over every topic's subject
    /// unless `declare_stream` is false (then it must exist and capture them).
    std::string stream = "BULWARK";
    bool declare_stream = true;
    stream_storage storage = stream_storage::file;
    int replicas = 1;
    duration duplicate_window = std::chrono::minutes(2);
    /// Durable consumer names are `<consumer_group>-<subject with '.' as '_'>`: every process
    /// with the same group shares the work (each message to one of them).
    std::string consumer_group = "bulwark";
    /// How long a delivery may stay unsettled before the server redelivers it.
    duration ack_wait = std::chrono::seconds(30);
    /// Where dead letters are republished ("" = not republished).
    std::string dead_letter_subject{};
    /// Every dead letter as raw bytes, headers, reason and count — including messages that do
    /// not decode (which never reach a typed sink).
    std::function<void(nats_dead_letter&&)> raw_dead_letter{};
};

template <class Topics, class Codec>
class jetstream_bus {
    static_assert(sizeof(Topics) == 0,
                  "bulwark::jetstream_bus<Topics, Codec>: Topics must be bulwark::topics<...>");
};

/// The typed at-least-once bus over JetStream (see the file comment).
///
/// **Failure semantics:** `publish` returns once the stream acknowledged the message (or with
/// the error: `errc::no_responders` when no stream captures the subject, `errc::timeout` when
/// the ack did not come — publish again with the same metadata id and it is stored once).
/// A handler's message is acked when it returns (or acks), nacked and redelivered after the
/// `redelivery_backoff` when it throws or nacks, and dead-lettered after `max_deliveries`
/// (the typed sink gets the decoded message; `raw_dead_letter` gets the bytes). A message that
/// does not decode goes to `raw_dead_letter` with the codec's reason and is terminated.
/// `at_most_once` is `max_deliveries = 1`.
/// **Thread safety:** all members from any thread; `subscribe` once per topic.
template <class... T, class Codec>
class jetstream_bus<topics<T...>, Codec> {
    static_assert((codec<Codec, T> && ...),
                  "bulwark::jetstream_bus<Topics, Codec>: Codec must encode and decode every "
                  "topic (bulwark::codec<Codec, T>)");

public:
    using topics_type = topics<T...>;

    explicit jetstream_bus(jetstream& js, jetstream_bus_options o = {}, Codec c = {})
        : js_(&js)
        , o_(std::move(o))
        , codec_(std::move(c))
        , groups_(std::make_shared<groups>()) {
        if (o_.declare_stream) {
            stream_config sc;
            sc.name = o_.stream;
            (sc.subjects.push_back(std::string(subject_v<T>)), ...);
            sc.storage = o_.storage;
            sc.replicas = o_.replicas;
            sc.duplicate_window = o_.duplicate_window;
            js.declare_stream(sc).value();
        }
    }
    jetstream_bus(const jetstream_bus&) = delete;
    jetstream_bus& operator=(const jetstream_bus&) = delete;
    ~jetstream_bus() { close(); }

    /// Starts topic `M`'s consumer group (see `async_bus::subscribe`): `options.consumers`
    /// workers, `per_key_order`, `delivery` (`at_least_once{.max_deliveries,
    /// .redelivery_backoff}` or `at_most_once`), `auto_ack`, the typed `dead_letter` sink, and
    /// an optional dedupe window (duplicates by message id are acked and dropped, also across
    /// redeliveries after a lost ack). Returns the RAII handle: unsubscribing stops the group
    /// (running handlers finish; the durable consumer stays on the server).
    template <class M, class F>
    subscription subscribe(F handler, async_bus_options<M> options = {},
                           std::shared_ptr<dedupe_window<message_id>> dedupe = nullptr) {
        if constexpr (!is_topic_v<M, topics_type>) {
            detail::require_topic<M, topics_type>();
            return {};
        } else {
            static_assert(
                detail::valid_async_bus_handler<M, F>,
                "bulwark::jetstream_bus::subscribe<M>: the handler must be callable with "
                "`const M&`, `const bulwark::envelope<M>&` or `bulwark::bus_delivery<M>&`");
            std::uint32_t max = 1;
            redelivery_backoff backoff{};
            if (auto* alo = std::get_if<at_least_once>(&options.delivery)) {
                alo->validate();
                max = alo->max_deliveries;
                backoff = alo->redelivery_backoff;
            }
            consumer_config cc;
            cc.stream = o_.stream;
            cc.durable = o_.consumer_group + "-" + durable_of(subject_v<M>);
            cc.filter_subject = std::string(subject_v<M>);
            cc.ack_wait = o_.ack_wait;
            cc.max_deliveries = max;
            consume_options co;
            co.workers = static_cast<unsigned>(options.consumers);
            co.per_key_order = options.per_key_order;
            co.backoff = backoff;
            co.dead_letter_subject = o_.dead_letter_subject;
            co.dead_letter = o_.raw_dead_letter;
            co.dedupe = std::move(dedupe);
            auto typed = make_handler<M>(std::move(handler), max, options.auto_ack,
                                         std::move(options.dead_letter));
            std::lock_guard lock(groups_->mutex);
            auto& slot = groups_->slots[topic_index_v<M, topics_type>];
            if (slot)
                throw invalid_argument_error("bulwark::jetstream_bus: subscribe: this topic "
                                             "already has a consumer group; raise its consumers "
                                             "instead");
            slot = std::make_unique<jetstream_consumer>(*js_, std::move(cc), std::move(typed),
                                                        std::move(co));
            return subscription{std::shared_ptr<detail::removable>(groups_), slot.get()};
        }
    }

    /// Publishes `m` and waits for the stream's ack (metadata stamped: a new id unless `md`
    /// has one; that id is the `Nats-Msg-Id`).
    template <class M>
    std::error_code publish(const M& m, message_metadata md = {}) {
        return publish_impl(m, std::move(md), nullptr);
    }
    /// Publishes with options: `publish(m, {.metadata = md, .key = customer_id})`. With
    /// `per_key_order`, messages with the same key are handled one at a time, in order.
    template <class M>
    std::error_code publish(const M& m, publish_options o) {
        if (!o.key.present)
            return publish_impl(m, std::move(o.metadata), nullptr);
        auto text = std::to_string(o.key.hash);
        return publish_impl(m, std::move(o.metadata), &text);
    }
    /// The same publish, with the failure's text (`outcome<publish_ack>`).
    template <class M>
    outcome<publish_ack> publish_with_ack(const M& m, message_metadata md = {}) {
        detail::require_topic<M, topics_type>();
        header_map h;
        std::vector<std::byte> body;
        encode(m, md, h, body, nullptr);
        return js_->publish(subject_v<M>, h, body);
    }

    /// Topic `M`'s consumer statistics (zeros before `subscribe<M>`).
    template <class M>
    consumer_stats stats() {
        detail::require_topic<M, topics_type>();
        std::lock_guard lock(groups_->mutex);
        auto& slot = groups_->slots[topic_index_v<M, topics_type>];
        return slot ? slot->stats() : consumer_stats{};
    }

    /// Stops every consumer group: running handlers finish, fetched messages are handed back
    /// for redelivery. The durable consumers stay on the server.
    void close() {
        std::array<std::unique_ptr<jetstream_consumer>, sizeof...(T)> stopping;
        {
            std::lock_guard lock(groups_->mutex);
            for (std::size_t i = 0; i < sizeof...(T); ++i)
                stopping[i] = std::move(groups_->slots[i]);
        }
        // destroyed here, outside the lock: stopping waits for running handlers
    }

private:
    static std::string durable_of(std::string_view subject) {
        std::string d(subject);
        for (auto& ch : d)
            if (ch == '.')
                ch = '_';
        return d;
    }

    template <class M>
    void encode(const M& m, message_metadata& md, header_map& h, std::vector<std::byte>& body,
                const std::string* key) {
        stamp(md);
        to_headers(md, h);
        if (key != nullptr)
            h.set(header::partition_key, *key);
        encode_message(codec_, m, h, body);
    }

    template <class M>
    std::error_code publish_impl(const M& m, message_metadata md, const std::string* key) {
        if constexpr (!is_topic_v<M, topics_type>) {
            detail::require_topic<M, topics_type>();
            return errc::invalid_argument;
        } else {
            header_map h;
            std::vector<std::byte> body;
            encode(m, md, h, body, key);
            auto r = js_->publish(subject_v<M>, h, body);
            if (!r)
                return r.error().error_code();
            return {};
        }
    }

    template <class M, class F>
    jetstream_handler make_handler(F handler, std::uint32_t max, bool auto_ack,
                                   dead_letter_sink<async_message<M>> sink) {
        return [h = detail::async_bus_handler<M, F>{std::move(handler)}, codec = codec_, max,
                auto_ack, sink = std::move(sink)](const message_view& v,
                                                  jetstream_control& ctl) mutable -> settle {
            auto md = from_headers(*v.headers);
            if (!md) {
                ctl.reason(std::string(type_name<M>()) + ": malformed envelope headers");
                ctl.dead_letter_as(dead_letter_kind::malformed);
                return settle::term();
            }
            auto decoded = decode_message<M>(codec, *v.headers, v.data);
            if (!decoded) {
                ctl.reason(failure_message(decoded.error()));
                ctl.dead_letter_as(dead_letter_kind::malformed);
                return settle::term();
            }
            async_message<M> msg{std::move(*decoded), std::move(*md)};
            bus_delivery<M> d(msg, v.delivery_count);
            try {
                h(d);
            } catch (...) {
                auto f = failure::current_exception();
                d.nack("handler threw: " + failure_message(f), f);
            }
            if (d.pending()) {
                if (auto_ack)
                    d.ack();
                else
                    d.nack("handler returned without settling");
            }
            switch (d.state()) {
            case delivery_state::acked:
            case delivery_state::pending:
                return settle::ack();
            case delivery_state::dead_lettered:
                ctl.reason(d.reason());
                give_up(sink, msg, d, dead_letter_kind::rejected);
                return settle::term();
            case delivery_state::nacked:
                break;
            }
            ctl.reason(d.reason());
            if (v.delivery_count >= max)
                give_up(sink, msg, d,
                        max == 1 ? dead_letter_kind::failed : dead_letter_kind::max_deliveries);
            return settle::nack();
        };
    }

    template <class M>
    static void give_up(dead_letter_sink<async_message<M>>& sink, async_message<M>& msg,
                        bus_delivery<M>& d, dead_letter_kind kind) {
        if (!sink)
            return;
        try {
            sink(dead_letter<async_message<M>>{std::move(msg), d.reason(), d.cause(), d.attempt(),
                                               kind});
        } catch (...) { // a sink's exception must not undo the dead letter
        }
    }

    /// The consumer group of each topic; the subscriptions' `removable`.
    struct groups final : detail::removable {
        mutable std::mutex mutex;
        std::array<std::unique_ptr<jetstream_consumer>, sizeof...(T)> slots{};
        bool remove(void* node) override {
            std::unique_ptr<jetstream_consumer> gone;
            {
                std::lock_guard lock(mutex);
                for (auto& s : slots)
                    if (s.get() == node)
                        gone = std::move(s);
            }
            return gone != nullptr; // stopped here, outside the lock
        }
        bool contains(const void* node) const override {
            std::lock_guard lock(mutex);
            for (auto& s : slots)
                if (s.get() == node)
                    return true;
            return false;
        }
    };

    jetstream* js_;
    jetstream_bus_options o_;
    Codec codec_;
    std::shared_ptr<groups> groups_;
};

} // namespace bulwark
