#pragma once
/// \file
/// `async_bus<Topics, Queue, Overflow>`: the typed asynchronous bus, one `async_channel` per
/// topic. Publishing routes by type at compile time; each topic has one consumer group (the
/// NATS queue-group model: every message goes to one of the group's consumers), subscribed with
/// its own concurrency, ordering, delivery policy, dead-letter sink and optional dedupe window.
///
/// ```cpp
/// bulwark::async_bus<shop_topics> bus;
/// auto sub = bus.subscribe<order_created>([](const order_created& e) { ... }, {.consumers = 4});
/// bus.publish(order_created{"o-1", 99.9});   // enqueued; handled on a consumer thread
/// bus.publish(order_created{"o-2", 5.0}, {.key = "customer-7"});  // per-key order
/// bus.drain();                               // a barrier across every topic
/// bus.publish(42);                           // compile error: not a topic of this bus
/// ```

#include <bulwark/channel/async_channel.hpp>
#include <bulwark/channel/delivery.hpp>
#include <bulwark/channel/envelope.hpp>
#include <bulwark/channel/handler.hpp>
#include <bulwark/channel/idempotent.hpp>
#include <bulwark/channel/queue.hpp>
#include <bulwark/channel/subscription.hpp>
#include <bulwark/channel/topics.hpp>
#include <bulwark/core/error.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

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

/// A partition key for `publish(m, {.key = k})`: any `std::hash`-able value, hashed once here.
/// Messages with the same key go to the same lane (handled in order with `per_key_order`).
struct message_key {
    std::size_t hash = 0;
    bool present = false;

    message_key() noexcept = default;
    template <class K>
    requires(!std::is_same_v<std::remove_cvref_t<K>, message_key> &&
             requires(const K& k) { std::hash<std::remove_cvref_t<K>>{}(k); })
        message_key(const K& k) // NOLINT: implicit on purpose ({.key = "customer-7"})
        : hash(std::hash<std::remove_cvref_t<K>>{}(k))
        , present(true) {}
    message_key(const char* k)
        : message_key(std::string_view(k)) {}
};

/// Options of one `async_bus::publish`: metadata (stamped when empty) and an optional key.
struct publish_options {
    message_metadata metadata{};
    message_key key{};
};

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
/// How an `async_bus` calls a handler of `M` (the shared rule of channel/handler.hpp): the
/// explicit-ack `bus_delivery<M>&`, else the message, else its envelope.
template <class M, class F>
inline constexpr handler_shape async_bus_shape =
    handler_shape_of<F, M&, const envelope<M>&, bus_delivery<M>&>;
template <class M, class F>
inline constexpr bool valid_async_bus_handler = async_bus_shape<M, F> != handler_shape::none;

/// The channel handler of one topic: unwraps `async_message<M>` for the user's handler.
template <class M, class F>
struct async_bus_handler {
    F f;
    void operator()(bus_delivery<M>& d) {
        async_message<M>& am = d.message();
        call_handler_acked<const envelope<M>&>(
            f, d, am.message, [&] { return envelope<M>(am.message, am.metadata); });
    }
};
} // namespace detail

template <class Topics, queue_selector Queue = mpmc, overflow_policy Overflow = overflow::block,
          class Listener = null_listener>
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
/// **Events:** each topic's channel reports to `Listener` (a copy of the bus's, or the one given
/// to `subscribe`) with the topic's subject (`subject_of<M>`, when it has one, or the one given
/// to `subscribe`): see `async_channel`; a dedupe window's hit is `channel_duplicate_dropped`.
/// The default `null_listener` costs nothing.
template <class... T, queue_selector Queue, overflow_policy Overflow, class Listener>
class async_bus<topics<T...>, Queue, Overflow, Listener> {
public:
    using topics_type = topics<T...>;
    template <class M>
    using channel_type = async_channel<async_message<M>, Queue, Overflow, Listener>;
    using listener_type = Listener;

    async_bus()
        : unsub_(std::make_shared<unsubscriber>(this)) {}
    /// A bus whose topics report their events to copies of `listener`.
    explicit async_bus(Listener listener)
        : listener_(std::move(listener))
        , unsub_(std::make_shared<unsubscriber>(this)) {}
    async_bus(const async_bus&) = delete;
    /// Closes every topic: everything accepted is handled first.
    ~async_bus() {
        close();
        unsub_->detach();
    }

    /// Starts topic `M`'s consumer group running `handler` (callable with `const M&`,
    /// `const bulwark::envelope<M>&` or `bulwark::bus_delivery<M>&`) and returns its RAII
    /// handle: unsubscribing (or dropping the handle) closes the group after it handled what
    /// was accepted; later publishes to `M` return `errc::no_responders` until a new subscribe.
    /// With `dedupe`, duplicates by message id are dropped (first deliveries only).
    /// **Failure semantics:** throws `invalid_argument_error` for bad options or a second
    /// live subscription to the same topic (raise `consumers` instead). Do not unsubscribe a
    /// topic from inside its own handler (closing waits for that handler). After `close()`
    /// it starts nothing and returns an empty subscription: the bus stays closed.
    template <class M, class F>
    subscription subscribe(F handler, async_bus_options<M> options = {},
                           std::shared_ptr<dedupe_window<message_id>> dedupe = nullptr) {
        std::string_view subject{}; // the events' subject: the topic's, when it declares one
        if constexpr (requires { subject_of<M>::value; })
            subject = subject_of<M>::value;
        return subscribe<M>(std::move(handler), std::move(options), std::move(dedupe), listener_,
                            subject);
    }
    /// As `subscribe(handler, options, dedupe)`, with this topic's own `listener` (say, a
    /// metrics listener labelled with the topic) and the events' `subject` (copied).
    template <class M, class F>
    subscription subscribe(F handler, async_bus_options<M> options,
                           std::shared_ptr<dedupe_window<message_id>> dedupe, Listener listener,
                           std::string_view subject) {
        if constexpr (!is_topic_v<M, topics_type>) {
            detail::require_topic<M, topics_type>();
            return {};
        } else {
            static_assert(
                detail::valid_async_bus_handler<M, F>,
                "bulwark::async_bus::subscribe<M>: the handler must be callable with "
                "`const M&`, `const bulwark::envelope<M>&` or `bulwark::bus_delivery<M>&`");
            constexpr std::size_t i = topic_index_v<M, topics_type>;
            std::lock_guard lock(subscribe_mutex_);
            // A closed bus stays closed: no group starts, so publishes keep returning
            // channel_closed (close() sets the flag before it takes this mutex).
            if (closed_.load(std::memory_order_acquire))
                return {};
            if (std::get<i>(owned_))
                throw invalid_argument_error("bulwark::async_bus: subscribe: this topic already "
                                             "has a consumer group; raise its consumers instead");
            detail::async_bus_handler<M, F> h{std::move(handler)};
            std::unique_ptr<channel_type<M>> ch;
            if (dedupe)
                ch = std::make_unique<channel_type<M>>(
                    idempotent<async_message<M>>(std::move(h), std::move(dedupe), by_message_id{},
                                                 listener, subject),
                    std::move(options), std::move(listener), subject);
            else
                ch = std::make_unique<channel_type<M>>(std::move(h), std::move(options),
                                                       std::move(listener), subject);
            void* node = ch.get();
            std::get<i>(live_).store(ch.get(), std::memory_order_release);
            std::get<i>(owned_) = std::move(ch);
            return subscription{std::shared_ptr<detail::removable>(unsub_), node};
        }
    }

    /// Publishes `m` to its topic (metadata stamped: a new id unless `md` has one).
    template <class M>
    std::error_code publish(M m, message_metadata md = {}) {
        return publish_impl<std::remove_cvref_t<M>>(std::move(m), std::move(md), message_key{});
    }
    /// Publishes with options: `publish(m, {.metadata = md, .key = customer_id})`. With
    /// `per_key_order`, messages with the same key are handled in publish order.
    template <class M>
    std::error_code publish(M m, publish_options o) {
        return publish_impl<std::remove_cvref_t<M>>(std::move(m), std::move(o.metadata), o.key);
    }
    /// Deprecated spelling of `publish(m, {.metadata = md, .key = key})`; kept for one release.
    template <class M, class K>
    [[deprecated("use publish(m, {.metadata = md, .key = key})")]] std::error_code
    publish_keyed(M m, const K& key, message_metadata md = {}) {
        return publish_impl<std::remove_cvref_t<M>>(std::move(m), std::move(md), message_key(key));
    }

    /// Topic `M`'s channel (statistics, drain), or nullptr before `subscribe<M>`.
    template <class M>
    channel_type<M>* channel() noexcept {
        detail::require_topic<M, topics_type>();
        return std::get<topic_index_v<M, topics_type>>(live_).load(std::memory_order_acquire);
    }

    /// A barrier across every topic: returns once every message accepted before the call, and
    /// every message its handlers published in turn (to any topic), is acked or dead-lettered.
    /// It drains the topics pass after pass until a full pass saw no publish at all, so a
    /// handler of a later topic publishing to an earlier one is waited for. (Under a publisher
    /// that never stops, it waits for a quiet moment.)
    void drain() {
        barrier([](auto& ch) { ch.drain(); });
    }
    /// As `drain`, but waits for "nothing queued or running" (parked redeliveries may remain).
    void wait_idle() {
        barrier([](auto& ch) { ch.wait_idle(); });
    }
    /// Closes every topic; later publishes return `errc::channel_closed`.
    void close() {
        closed_.store(true, std::memory_order_release);
        for_each([](auto& ch) { ch.close(); });
    }

private:
    template <class M>
    std::error_code publish_impl(M&& m, message_metadata&& md, message_key key) {
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
            // Counted before the message can run, so a barrier pass that overlaps it sees it.
            published_.fetch_add(1, std::memory_order_seq_cst);
            if (!key.present)
                return ch->publish(async_message<M>{std::move(m), std::move(md)});
            return ch->publish(async_message<M>{std::move(m), std::move(md)}, key.hash);
        }
    }

    template <class F>
    void barrier(F f) {
        for (;;) {
            const auto before = published_.load(std::memory_order_seq_cst);
            for_each_live(f);
            if (published_.load(std::memory_order_seq_cst) == before)
                return;
        }
    }
    template <class F>
    void for_each_live(F f) {
        std::vector<std::function<void()>> waits; // never wait under the subscribe mutex
        {
            std::lock_guard lock(subscribe_mutex_);
            std::apply(
                [&](auto&... ch) {
                    (void(ch ? (waits.emplace_back([c = ch.get(), &f] { f(*c); }), 0) : 0), ...);
                },
                owned_);
        }
        for (auto& w : waits)
            w();
    }

    /// What a `subscription` of this bus points at: closes one topic's group.
    struct unsubscriber final : detail::removable {
        explicit unsubscriber(async_bus* b) noexcept
            : bus(b) {}
        std::mutex m;
        async_bus* bus;
        void detach() {
            std::lock_guard lock(m);
            bus = nullptr;
        }
        bool remove(void* node) override {
            std::lock_guard lock(m);
            return bus != nullptr && bus->remove_group(node);
        }
        bool contains(const void* node) const override {
            auto& self = const_cast<unsubscriber&>(*this);
            std::lock_guard lock(self.m);
            return bus != nullptr && bus->has_group(node);
        }
    };

    bool remove_group(void* node) {
        std::function<void()> close_it;
        {
            std::lock_guard lock(subscribe_mutex_);
            std::apply(
                [&](auto&... ch) {
                    (void(ch.get() == node ? (
                                                 close_it = [c = ch.get()] { c->close(); }, 0)
                                           : 0),
                     ...);
                },
                owned_);
            if (!close_it)
                return false;
            std::apply(
                [&](auto&... live) {
                    (void(live.load() == node ? (live.store(nullptr), 0) : 0), ...);
                },
                live_);
        }
        close_it(); // outside the lock: it waits for the group's handlers
        // The channel object stays owned until the bus dies: a publisher may still hold it.
        std::lock_guard lock(subscribe_mutex_);
        std::apply(
            [&](auto&... ch) {
                (void(ch.get() == node ? (graveyard_.emplace_back(std::move(ch)), 0) : 0), ...);
            },
            owned_);
        return true;
    }
    bool has_group(const void* node) {
        std::lock_guard lock(subscribe_mutex_);
        bool found = false;
        std::apply([&](auto&... ch) { ((found = found || ch.get() == node), ...); }, owned_);
        return found && !closed_.load();
    }

    template <class F>
    void for_each(F f) {
        std::lock_guard lock(subscribe_mutex_);
        std::apply([&](auto&... ch) { (void(ch ? f(*ch) : void()), ...); }, owned_);
    }

    [[no_unique_address]] Listener listener_{};
    std::mutex subscribe_mutex_;
    std::atomic<bool> closed_{false};
    std::atomic<std::uint64_t> published_{0};
    std::vector<std::shared_ptr<void>> graveyard_; // closed groups (see remove_group)
    std::shared_ptr<unsubscriber> unsub_;
    std::tuple<std::atomic<channel_type<T>*>...> live_{};
    std::tuple<std::unique_ptr<channel_type<T>>...> owned_{};
};

} // namespace bulwark
