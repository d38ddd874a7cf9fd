#pragma once
/// \file
/// `async_channel<T, Queue, Overflow>`: a bounded lock-free queue drained by N consumer threads
/// that run one handler, with an overflow policy, per-key ordering, a delivery guarantee
/// (at-most-once / at-least-once with redelivery and a dead-letter sink), `drain()` and a
/// shutdown that loses nothing already accepted.

#include <bulwark/channel/dead_letter.hpp>
#include <bulwark/channel/delivery.hpp>
#include <bulwark/channel/detail/channel_core.hpp>
#include <bulwark/channel/queue.hpp>
#include <bulwark/core/error.hpp>
#include <bulwark/core/time.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <system_error>
#include <type_traits>
#include <utility>

namespace bulwark {

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

/// A handler for `async_channel<T>`: `void(T&)` / `void(const T&)` (auto-ack: returning acks,
/// throwing nacks) or `void(bulwark::delivery<T>&)` (explicit ack / nack / dead_letter).
template <class H, class T>
concept async_handler = std::move_constructible<std::decay_t<H>> &&
    (std::invocable<std::decay_t<H>&, T&> || std::invocable<std::decay_t<H>&, delivery<T>&>);

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
template <class T, queue_selector Queue = mpmc, overflow_policy Overflow = overflow::block>
class async_channel {
    static_assert(Queue::multi_consumer || !std::same_as<Overflow, overflow::drop_oldest>,
                  "bulwark::async_channel: overflow::drop_oldest evicts from the publishing "
                  "thread, so it needs a multi-consumer queue; use bulwark::mpmc");
    static_assert(std::move_constructible<T>, "bulwark::async_channel: T must be movable");

public:
    using value_type = T;
    using options = async_channel_options<T>;

    /// Starts `o.consumers` threads running `handler`.
    /// **Failure semantics:** throws `invalid_argument_error` for bad settings.
    template <class Handler>
    requires async_handler<Handler, T>
    explicit async_channel(Handler handler, options o = {})
        : core_(std::make_unique<core>(
              std::make_unique<detail::handler_model<T, std::decay_t<Handler>>>(std::move(handler)),
              o)) {}
    async_channel(async_channel&&) noexcept = default;
    async_channel& operator=(async_channel&&) noexcept = default;
    /// Closes: everything accepted is handled first.
    ~async_channel() {
        if (core_)
            core_->close();
    }

    /// Enqueues `msg` (on the lane of a rotating counter when the channel is keyed).
    std::error_code publish(T msg) {
        return core_->publish(std::move(msg), core_->next_lane(), true);
    }
    /// Enqueues `msg` on the lane of `key` (`std::hash<K>`): same key, same order.
    template <class K>
    std::error_code publish(T msg, const K& key) {
        return core_->publish(std::move(msg), core_->lane_of(std::hash<K>{}(key)), true);
    }
    /// Like `publish`, but never waits (`overflow::block` reports `errc::queue_full`).
    std::error_code try_publish(T msg) {
        return core_->publish(std::move(msg), core_->next_lane(), false);
    }
    template <class K>
    std::error_code try_publish(T msg, const K& key) {
        return core_->publish(std::move(msg), core_->lane_of(std::hash<K>{}(key)), false);
    }

    /// Waits until every message accepted before the call is acked or dead-lettered (parked
    /// redeliveries included: on a manual clock, advance it first or use `wait_idle`).
    void drain() { core_->drain(); }
    /// Waits until nothing is queued or being handled (redeliveries may still be parked).
    void wait_idle() { core_->wait_idle(); }
    /// Stops accepting, handles everything accepted, stops the consumers. Idempotent.
    void close() { core_->close(); }
    bool closed() const noexcept { return core_->closed(); }

    /// Lanes (consumers when keyed, else 1) and slots per lane.
    std::size_t lanes() const noexcept { return core_->lane_count(); }
    std::size_t capacity() const noexcept { return core_->capacity(); }

    /// Messages accepted by `publish` (including those later dropped by drop_oldest).
    std::uint64_t accepted() const noexcept { return core_->accepted(); }
    std::uint64_t acked() const noexcept { return core_->sum(&detail::worker_counters::acked); }
    std::uint64_t dead_lettered() const noexcept {
        return core_->sum(&detail::worker_counters::dead);
    }
    /// Nacked deliveries that were scheduled again.
    std::uint64_t redelivered() const noexcept {
        return core_->sum(&detail::worker_counters::redelivered);
    }
    /// Messages discarded by drop_oldest / drop_newest.
    std::uint64_t dropped() const noexcept { return core_->dropped(); }
    /// Publishes refused with `errc::queue_full` under `overflow::reject`.
    std::uint64_t rejected() const noexcept { return core_->rejected(); }
    /// Redeliveries waiting for their backoff to elapse.
    std::uint64_t pending_redeliveries() const noexcept { return core_->pending_redeliveries(); }

private:
    using core = detail::channel_core<T, Queue, Overflow>;
    std::unique_ptr<core> core_;
};

} // namespace bulwark
