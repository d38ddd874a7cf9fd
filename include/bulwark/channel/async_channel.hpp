#pragma once
/// \file
/// `async_channel<T, Queue, Overflow>`: a bounded lock-free queue drained by N consumer threads
/// that run one handler, with an overflow policy, per-key ordering, a delivery guarantee
/// (at-most-once / at-least-once with redelivery and a dead-letter sink), `drain()` and a
/// shutdown that loses nothing already accepted.

#include <bulwark/channel/async_channel/consumer.hpp>
#include <bulwark/channel/async_channel/core.hpp>
#include <bulwark/channel/dead_letter.hpp>
#include <bulwark/channel/delivery.hpp>
#include <bulwark/channel/handler.hpp>
#include <bulwark/channel/queue.hpp>
#include <bulwark/core/error.hpp>
#include <bulwark/detail/validate.hpp>
#include <bulwark/observe/events.hpp>
#include <bulwark/observe/listener.hpp>
#include <bulwark/runtime/any_clock.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace bulwark {

/// The largest `capacity` (slots per lane) an `async_channel` accepts: 2^30.
inline constexpr std::size_t max_channel_capacity = std::size_t{1} << 30;
/// The largest `capacity * consumers` of a keyed (`per_key_order`) channel: 2^32 slots.
inline constexpr std::size_t max_channel_slots = std::size_t{1} << 32;
/// The most consumer threads an `async_channel` starts.
inline constexpr std::size_t max_channel_consumers = 4096;
static_assert(max_channel_capacity == detail::max_ring_capacity,
              "the channel's documented limit is the ring's");

/// What a channel does when a publish finds its queue full (Go channels block; Watermill and
/// bounded mailboxes in actor systems offer the drops; reject is the explicit back-pressure
/// signal).
namespace overflow {
/// Wait for space (back-pressure). `try_publish` never waits and reports `errc::queue_full`.
struct block {};
/// Evict the oldest queued message (it is reported to `on_drop` and counted), then enqueue.
struct drop_oldest {};
/// Discard the new message (reported to `on_drop` and counted); the publish succeeds.
struct drop_newest {};
/// Refuse the new message: the publish returns `errc::queue_full` (counted as rejected).
struct reject {};
} // namespace overflow

/// One of the four overflow policies.
template <class O>
concept overflow_policy =
    std::same_as<O, overflow::block> || std::same_as<O, overflow::drop_oldest> ||
    std::same_as<O, overflow::drop_newest> || std::same_as<O, overflow::reject>;

/// Settings of an `async_channel<T>` (build with designated initializers:
/// `{.capacity = 4096, .consumers = 4, .per_key_order = true, .delivery = at_least_once{}}`).
template <class T>
struct async_channel_options {
    /// Slots per lane (rounded up to a power of two, at least 2), in [1, 2^30]; with
    /// `per_key_order`, `capacity * consumers` must also be <= 2^32. Out of range throws
    /// `invalid_argument_error` (never a silent clamp: a ring that large is a typo).
    std::size_t capacity = 1024;
    /// Consumer threads, in [1, 4096]. With `per_key_order` each owns one lane; otherwise they
    /// share one queue.
    std::size_t consumers = 1;
    /// Messages published with the same key are handled one at a time, in publish order;
    /// different keys run in parallel (MassTransit's partitioner: hash(key) % consumers lanes).
    bool per_key_order = false;
    /// at_most_once (default, as core NATS) or at_least_once{.max_deliveries, .redelivery_backoff}.
    delivery_policy delivery = at_most_once{};
    /// An explicit-ack handler that returns without settling acks (true) or nacks (false).
    bool auto_ack = true;
    /// Receives poison messages and exhausted redeliveries with the reason and delivery count.
    dead_letter_sink<T> dead_letter{};
    /// Told about each message dropped by `drop_oldest` / `drop_newest` (on the publishing thread).
    std::function<void(const T&)> on_drop{};
    /// Time source of the redelivery backoff (`.clock = manual` in tests).
    any_clock clock{};
};

/// A handler for `async_channel<T>` (the shared rule of channel/handler.hpp):
/// `void(bulwark::delivery<T>&)` (explicit ack / nack / dead_letter), else `void(T&)` /
/// `void(const T&)` (auto-ack: returning acks, throwing nacks).
template <class H, class T>
concept async_handler = std::move_constructible<std::decay_t<H>> &&
    (handler_shape_of<std::decay_t<H>, T&, void, delivery<T>&> != handler_shape::none);

/// An asynchronous, bounded, in-process channel of `T` with consumer threads.
///
/// **Failure semantics:** `publish` returns `errc::channel_closed` after `close()`, and
/// `errc::queue_full` under `overflow::reject` (or from `try_publish` under `overflow::block`).
/// Handler failures follow the delivery policy; see `delivery.hpp` for the fixed order
/// retry -> redelivery -> dead letter -> dedupe.
/// **Time and cancellation:** redelivery delays run on `options.clock`; `close()` fires pending
/// redeliveries at once so that nothing accepted is lost. Do not call `drain`, `close` or a
/// blocking `publish` on a full channel from inside its own handler (it would wait for itself).
/// **Thread safety:** every member may be called from any thread.
/// **Allocation:** the queues, threads and handler at construction; none per publish or per
/// delivery on the success path (a redelivery with a backoff allocates its timer).
/// **Complexity:** publish is O(1): one CAS on the lane's enqueue word (plus a futex wake when a
/// consumer sleeps).
/// **Events:** `Listener` (see <bulwark/observe/events.hpp>; the default `null_listener` costs
/// nothing) hears each event where it happens: `channel_published` (accepted), `channel_dropped`
/// (refused as full, or evicted / discarded by a drop policy) on the publishing thread;
/// `channel_delivered` (+ `channel_redelivered` from the second delivery on), `channel_nacked`,
/// `channel_redelivery_scheduled` (with the backoff) and `channel_dead_lettered` (kind, reason)
/// on the consumer thread. Give it with `async_channel(handler, options, listener, subject)`.
/// Events of different threads are not ordered with each other: `channel_published` follows the
/// push, so a consumer may report a message delivered before its publish is heard.
template <class T, queue_selector Queue = mpmc, overflow_policy Overflow = overflow::block,
          class Listener = null_listener>
class async_channel {
    static_assert(Queue::multi_consumer || !std::same_as<Overflow, overflow::drop_oldest>,
                  "bulwark::async_channel: overflow::drop_oldest evicts from the publishing "
                  "thread, so it needs a multi-consumer queue; use bulwark::mpmc");
    static_assert(std::move_constructible<T>, "bulwark::async_channel: T must be movable");

public:
    using value_type = T;
    using options = async_channel_options<T>;
    using listener_type = Listener;

    /// Starts `o.consumers` threads running `handler`.
    /// **Failure semantics:** throws `invalid_argument_error` for bad settings.
    template <class Handler>
    requires async_handler<Handler, T>
    explicit async_channel(Handler handler, options o = {})
        : async_channel(std::move(handler), std::move(o), Listener{}, std::string_view{}) {}

    /// Starts `o.consumers` threads running `handler`; `listener` hears the channel's events,
    /// which carry `subject` (copied: any string will do).
    /// **Failure semantics:** throws `invalid_argument_error` for bad settings.
    template <class Handler>
    requires async_handler<Handler, T>
    explicit async_channel(Handler handler, options o, Listener listener,
                           std::string_view subject) {
        detail::require(o.capacity >= 1 && o.capacity <= max_channel_capacity, "async_channel",
                        "capacity", "in [1, 2^30]", o.capacity);
        detail::require(o.consumers >= 1 && o.consumers <= max_channel_consumers, "async_channel",
                        "consumers", "in [1, 4096]", o.consumers);
        // Keyed channels allocate one ring per consumer: bound the product too (no overflow:
        // both factors are bounded above, so the product fits in 64 bits).
        detail::require(!o.per_key_order || o.capacity * o.consumers <= max_channel_slots,
                        "async_channel", "capacity * consumers", "<= 2^32 with per_key_order",
                        o.capacity * o.consumers);
        if (!Queue::multi_consumer && !o.per_key_order && o.consumers > 1)
            throw invalid_argument_error(
                "async_channel: an mpsc queue allows one consumer per lane; use bulwark::mpmc "
                "or per_key_order = true for several consumers");
        std::visit(
            [](const auto& p) {
                if constexpr (requires { p.validate(); })
                    p.validate();
            },
            o.delivery);
        s_ = std::make_unique<state>(
            std::make_unique<detail::handler_model<T, std::decay_t<Handler>>>(std::move(handler)),
            o, std::move(listener), subject);
        s_->workers.reserve(o.consumers);
        try {
            for (std::size_t w = 0; w < o.consumers; ++w)
                s_->workers.emplace_back([s = s_.get(), w] {
                    detail::consume(*s, *s->lanes[w / s->per_lane], s->counters[w]);
                });
        } catch (...) { // could not start every consumer: stop the ones that run, then fail
            close();
            throw;
        }
    }
    async_channel(async_channel&&) noexcept = default;
    async_channel& operator=(async_channel&&) noexcept = default;
    /// Closes: everything accepted is handled first.
    ~async_channel() {
        if (s_)
            close();
    }

    /// Enqueues `msg` (on the lane of a rotating counter when the channel is keyed).
    std::error_code publish(T msg) { return push(std::move(msg), next_lane(), true); }
    /// Enqueues `msg` on the lane of `key` (`std::hash<K>`): same key, same order.
    template <class K>
    std::error_code publish(T msg, const K& key) {
        return push(std::move(msg), lane_of(std::hash<K>{}(key)), true);
    }
    /// Like `publish`, but never waits (`overflow::block` reports `errc::queue_full`).
    std::error_code try_publish(T msg) { return push(std::move(msg), next_lane(), false); }
    /// Like `publish(msg, key)`, but never waits.
    template <class K>
    std::error_code try_publish(T msg, const K& key) {
        return push(std::move(msg), lane_of(std::hash<K>{}(key)), false);
    }

    /// Waits until every message accepted before the call is acked or dead-lettered (parked
    /// redeliveries included: on a manual clock, advance it first or use `wait_idle`).
    void drain() {
        state& s = *s_;
        s.wait_until([&s] {
            std::uint64_t settled = s.evicted.load(std::memory_order_seq_cst);
            for (std::size_t w = 0; w < s.workers_capacity(); ++w)
                settled += s.counters[w].settled.get();
            return settled == s.accepted();
        });
    }
    /// Waits until nothing is queued or being handled (redeliveries may still be parked).
    void wait_idle() {
        state& s = *s_;
        s.wait_until([&s] {
            std::uint64_t out = s.evicted.load(std::memory_order_seq_cst);
            for (std::size_t w = 0; w < s.workers_capacity(); ++w)
                out += s.counters[w].settled.get() + s.counters[w].parked.get();
            std::uint64_t in = s.unparked.load(std::memory_order_seq_cst);
            return out == s.accepted() + in;
        });
    }
    /// Stops accepting, handles everything accepted (parked redeliveries at once: deliver early
    /// rather than lose them), stops the consumers. Idempotent.
    void close() {
        state& s = *s_;
        std::lock_guard guard(s.close_mutex);
        if (s.workers.empty())
            return;
        for (auto& l : s.lanes) {
            l->q.close();
            l->space.notify_all();
        }
        s.stop.request_stop();
        drain();
        while (s.timers.load(std::memory_order_acquire) != 0)
            std::this_thread::yield();
        s.stopping.store(true, std::memory_order_seq_cst);
        for (auto& l : s.lanes)
            l->q.interrupt_sleep();
        for (auto& t : s.workers)
            t.join();
        s.workers.clear();
    }
    /// True once `close()` began.
    bool closed() const noexcept { return s_->lanes[0]->q.closed(); }

    /// Lanes (consumers when keyed, else 1) and slots per lane.
    std::size_t lanes() const noexcept { return s_->lanes.size(); }
    /// Slots per lane (the `capacity` setting rounded up to a power of two).
    std::size_t capacity() const noexcept { return s_->lanes[0]->q.capacity(); }

    /// Messages accepted by `publish` (including those later dropped by drop_oldest).
    std::uint64_t accepted() const noexcept { return s_->accepted(); }
    /// Messages handled successfully.
    std::uint64_t acked() const noexcept { return s_->sum(&detail::worker_counters::acked); }
    /// Messages handed to the dead-letter sink (or discarded for want of one).
    std::uint64_t dead_lettered() const noexcept { return s_->sum(&detail::worker_counters::dead); }
    /// Nacked deliveries that were scheduled again.
    std::uint64_t redelivered() const noexcept {
        return s_->sum(&detail::worker_counters::redelivered);
    }
    /// Messages discarded by drop_oldest / drop_newest.
    std::uint64_t dropped() const noexcept { return s_->dropped.load(std::memory_order_relaxed); }
    /// Publishes refused with `errc::queue_full` under `overflow::reject`.
    std::uint64_t rejected() const noexcept { return s_->rejected.load(std::memory_order_relaxed); }
    /// Redeliveries waiting for their backoff to elapse.
    std::uint64_t pending_redeliveries() const noexcept {
        return s_->timers.load(std::memory_order_acquire);
    }

private:
    using state = detail::channel_state<T, Queue, std::same_as<Overflow, overflow::block>,
                                        std::same_as<Overflow, overflow::drop_oldest>, Listener>;
    using lane = typename state::lane;

    std::size_t lane_of(std::uint64_t hash) const noexcept {
        return detail::mix_hash(hash) % s_->lanes.size();
    }
    std::size_t next_lane() noexcept {
        const std::size_t n = s_->lanes.size();
        return n == 1 ? 0 : s_->rr.fetch_add(1, std::memory_order_relaxed) % n;
    }

    /// Enqueues per the overflow policy. No allocation, no lock (except a drop's callback).
    std::error_code push(T&& v, std::size_t li, bool may_block) {
        state& s = *s_;
        lane& l = *s.lanes[li];
        for (;;) {
            bool sleepers = false;
            switch (l.q.try_push(std::move(v), sleepers)) {
            case push_status::ok:
                if (sleepers) // a consumer announced sleep before our push CAS: wake it
                    l.q.wake_sleepers();
                bulwark::emit(s.listener, events::channel_published{s.subject});
                return {};
            case push_status::closed:
                return errc::channel_closed;
            case push_status::full:
                break;
            }
            if constexpr (std::same_as<Overflow, overflow::reject>) {
                s.rejected.fetch_add(1, std::memory_order_relaxed);
                bulwark::emit(s.listener, events::channel_dropped{s.subject});
                return errc::queue_full;
            } else if constexpr (std::same_as<Overflow, overflow::drop_newest>) {
                s.dropped.fetch_add(1, std::memory_order_relaxed);
                bulwark::emit(s.listener, events::channel_dropped{s.subject});
                if (s.on_drop)
                    s.on_drop(v);
                return {};
            } else if constexpr (std::same_as<Overflow, overflow::drop_oldest>) {
                if (auto old = l.q.try_pop()) {
                    s.dropped.fetch_add(1, std::memory_order_relaxed);
                    s.evicted.fetch_add(1, std::memory_order_seq_cst);
                    s.notify_progress();
                    bulwark::emit(s.listener, events::channel_dropped{s.subject});
                    if (s.on_drop)
                        s.on_drop(old->value);
                }
            } else {
                if (!may_block) {
                    bulwark::emit(s.listener, events::channel_dropped{s.subject});
                    return errc::queue_full;
                }
                s.wait_for_space(l);
            }
        }
    }

    std::unique_ptr<state> s_;
};

} // namespace bulwark
