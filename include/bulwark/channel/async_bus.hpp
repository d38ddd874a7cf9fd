#pragma once
/// \file
/// `async_bus<Topics, Queue, Overflow>`: the typed asynchronous bus, one `async_channel` per
/// topic. Publishing routes by type at compile time; each topic has one consumer group (the
/// NATS queue-group model: every message goes to one of the group's consumers), subscribed with
/// its own concurrency, ordering, delivery policy, dead-letter sink and optional dedupe window.
///
/// ```cpp
/// bulwark::async_bus<shop_topics> bus;
/// bus.subscribe<order_created>([](const order_created& e) { ... }, {.consumers = 4});
/// bus.publish(order_created{"o-1", 99.9});   // enqueued; handled on a consumer thread
/// bus.publish(42);                           // compile error: not a topic of this bus
/// ```

#include <bulwark/channel/async_channel.hpp>
#include <bulwark/channel/delivery.hpp>
#include <bulwark/channel/envelope.hpp>
#include <bulwark/channel/idempotent.hpp>
#include <bulwark/channel/queue.hpp>
#include <bulwark/channel/topics.hpp>
#include <bulwark/core/error.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>

namespace bulwark {

/// A message of topic `M` as it travels through an `async_bus`: the value and its metadata
/// (stamped at publish: id, correlation id, timestamp, trace).
template <class M>
struct async_message {
    M message;
    message_metadata metadata;
};

/// The explicit-ack handle of an `async_bus` handler: `void(bulwark::bus_delivery<M>&)`.
template <class M>
using bus_delivery = delivery<async_message<M>>;

/// Settings of one topic's consumer group on an `async_bus`.
template <class M>
using async_bus_options = async_channel_options<async_message<M>>;

/// The message id of an `async_message` (the id `idempotent` dedupes by).
struct by_message_id {
    template <class M>
    message_id operator()(const async_message<M>& m) const noexcept {
        return m.metadata.id;
    }
};

namespace detail {
template <class M, class F>
inline constexpr bool valid_async_bus_handler =
    std::is_invocable_v<F&, bus_delivery<M>&> || std::is_invocable_v<F&, const envelope<M>&> ||
    std::is_invocable_v<F&, M&>;

/// Adapts `void(const M&)`, `void(const envelope<M>&)` or `void(bus_delivery<M>&)`.
template <class M, class F>
struct async_bus_handler {
    F f;
    void operator()(bus_delivery<M>& d) {
        if constexpr (std::is_invocable_v<F&, bus_delivery<M>&>) {
            f(d);
        } else if constexpr (std::is_invocable_v<F&, const envelope<M>&>) {
            f(envelope<M>(d.message().message, d.message().metadata));
            d.ack();
        } else {
            f(d.message().message);
            d.ack();
        }
    }
};
} // namespace detail

template <class Topics, queue_selector Queue = mpmc, overflow_policy Overflow = overflow::block>
class async_bus {
    static_assert(sizeof(Topics) == 0, "bulwark::async_bus<Topics, ...>: Topics must be "
                                       "bulwark::topics<...>");
};

/// A typed asynchronous bus over one `async_channel` per topic.
///
/// **Failure semantics:** `publish` returns `errc::no_responders` when the topic has no consumer
/// group (the message is dropped, as core NATS drops a message nobody subscribed to),
/// `errc::channel_closed` after `close()`, `errc::queue_full` as the overflow policy says.
/// **Thread safety:** all members from any thread; `subscribe` once per topic.
/// **Allocation:** a channel per subscribed topic; none per publish on the success path
/// (the message and its metadata are moved into a preallocated slot).
/// **Complexity:** publish is O(1): a compile-time topic index, an atomic load, a channel publish.
template <class... T, queue_selector Queue, overflow_policy Overflow>
class async_bus<topics<T...>, Queue, Overflow> {
public:
    using topics_type = topics<T...>;
    template <class M>
    using channel_type = async_channel<async_message<M>, Queue, Overflow>;

    async_bus() = default;
    async_bus(const async_bus&) = delete;
    /// Closes every topic: everything accepted is handled first.
    ~async_bus() { close(); }

    /// Starts topic `M`'s consumer group running `handler` (callable with `const M&`,
    /// `const bulwark::envelope<M>&` or `bulwark::bus_delivery<M>&`). With `dedupe`, duplicates
    /// by message id are dropped (first deliveries only; see idempotent.hpp).
    /// **Failure semantics:** throws `invalid_argument_error` for bad options or a second
    /// subscription to the same topic (raise `consumers` instead).
    template <class M, class F>
    void subscribe(F handler, async_bus_options<M> options = {},
                   std::shared_ptr<dedupe_window<message_id>> dedupe = nullptr) {
        if constexpr (!is_topic_v<M, topics_type>) {
            detail::require_topic<M, topics_type>();
        } else {
            static_assert(
                detail::valid_async_bus_handler<M, F>,
                "bulwark::async_bus::subscribe<M>: the handler must be callable with "
                "`const M&`, `const bulwark::envelope<M>&` or `bulwark::bus_delivery<M>&`");
            constexpr std::size_t i = topic_index_v<M, topics_type>;
            std::lock_guard lock(subscribe_mutex_);
            if (std::get<i>(owned_))
                throw invalid_argument_error("async_bus::subscribe: this topic already has a "
                                             "consumer group; raise its consumers instead");
            detail::async_bus_handler<M, F> h{std::move(handler)};
            std::unique_ptr<channel_type<M>> ch;
            if (dedupe)
                ch = std::make_unique<channel_type<M>>(
                    idempotent<async_message<M>>(std::move(h), std::move(dedupe), by_message_id{}),
                    std::move(options));
            else
                ch = std::make_unique<channel_type<M>>(std::move(h), std::move(options));
            std::get<i>(live_).store(ch.get(), std::memory_order_release);
            std::get<i>(owned_) = std::move(ch);
        }
    }

    /// Publishes `m` to its topic (metadata stamped: a new id unless `md` has one).
    template <class M>
    std::error_code publish(M m, message_metadata md = {}) {
        return publish_impl<std::remove_cvref_t<M>>(std::move(m), std::move(md), nullptr);
    }
    /// Publishes with a key: with `per_key_order`, messages with the same key are handled in order.
    template <class M, class K>
    std::error_code publish_keyed(M m, const K& key, message_metadata md = {}) {
        return publish_impl<std::remove_cvref_t<M>>(std::move(m), std::move(md), &key);
    }

    /// Topic `M`'s channel (statistics, drain), or nullptr before `subscribe<M>`.
    template <class M>
    channel_type<M>* channel() noexcept {
        detail::require_topic<M, topics_type>();
        return std::get<topic_index_v<M, topics_type>>(live_).load(std::memory_order_acquire);
    }

    /// Drains every topic (see `async_channel::drain`).
    void drain() {
        for_each([](auto& ch) { ch.drain(); });
    }
    /// Waits until no topic has work queued or running.
    void wait_idle() {
        for_each([](auto& ch) { ch.wait_idle(); });
    }
    /// Closes every topic; later publishes return `errc::channel_closed`.
    void close() {
        closed_.store(true, std::memory_order_release);
        for_each([](auto& ch) { ch.close(); });
    }

private:
    template <class M, class K>
    std::error_code publish_impl(M&& m, message_metadata&& md, const K* key) {
        if constexpr (!is_topic_v<M, topics_type>) {
            detail::require_topic<M, topics_type>();
            return errc::invalid_argument;
        } else {
            auto* ch =
                std::get<topic_index_v<M, topics_type>>(live_).load(std::memory_order_acquire);
            if (ch == nullptr)
                return closed_.load(std::memory_order_acquire) ? errc::channel_closed
                                                               : errc::no_responders;
            stamp(md);
            if constexpr (std::is_same_v<K, std::nullptr_t>)
                return ch->publish(async_message<M>{std::move(m), std::move(md)});
            else
                return ch->publish(async_message<M>{std::move(m), std::move(md)}, *key);
        }
    }
    template <class M>
    std::error_code publish_impl(M&& m, message_metadata&& md, std::nullptr_t) {
        return publish_impl<M, std::nullptr_t>(std::move(m), std::move(md), nullptr);
    }

    template <class F>
    void for_each(F f) {
        std::lock_guard lock(subscribe_mutex_);
        std::apply([&](auto&... ch) { (void(ch ? f(*ch) : void()), ...); }, owned_);
    }

    std::mutex subscribe_mutex_;
    std::atomic<bool> closed_{false};
    std::tuple<std::atomic<channel_type<T>*>...> live_{};
    std::tuple<std::unique_ptr<channel_type<T>>...> owned_{};
};

} // namespace bulwark
