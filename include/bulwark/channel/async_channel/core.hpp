#pragma once
/// \file
/// The state of an `async_channel`: its lanes (a bounded lock-free queue, an event count for
/// blocked producers and a small locked inbox for redeliveries), the per-consumer counters, and
/// the exact accounting that `drain`, `wait_idle` and `close` rely on. The public members that
/// act on it are written in async_channel.hpp; the consumer loop is in consumer.hpp.
///
/// Accounting without a shared counter on the hot path: "accepted" is the sum of the queues'
/// enqueue positions (the push CAS counts it); "settled" and "parked" are per-consumer counters
/// written by their owner only. Each message settles exactly once (ack or dead letter; a drop by
/// drop_oldest counts as settled), so `drain` is "settled == accepted".

#include <bulwark/channel/async_channel/delivery_settle.hpp>
#include <bulwark/channel/async_channel/sync.hpp>
#include <bulwark/channel/dead_letter.hpp>
#include <bulwark/channel/delivery.hpp>
#include <bulwark/channel/queue.hpp>
#include <bulwark/observe/events.hpp>
#include <bulwark/observe/listener.hpp>
#include <bulwark/runtime/any_clock.hpp>
#include <bulwark/runtime/task.hpp>

#include <algorithm>
#include <atomic>
#include <concepts>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

namespace bulwark::detail {

/// The subject of a channel without a listener: no storage (nothing reads it).
struct null_subject {
    null_subject() = default;
    explicit null_subject(std::string_view) noexcept {}
    operator std::string_view() const noexcept { return {}; }
};

/// Everything an `async_channel` owns, at a stable address (consumer threads and redelivery
/// timers point into it; the channel itself stays movable).
/// `Blocking`: producers wait for room (`overflow::block`); `Evicting`: producers pop the oldest
/// item (`overflow::drop_oldest`), so a lane with one consumer still has two poppers.
/// `Listener` hears the channel's events (<bulwark/observe/events.hpp>); `null_listener` takes
/// no room and every emit compiles to nothing.
template <class T, class QueueSel, bool Blocking, bool Evicting, class Listener = null_listener>
struct channel_state {
    using item = channel_item<T>;
    using queue = typename QueueSel::template queue_type<item>;
    static constexpr bool blocking = Blocking;

    struct lane {
        explicit lane(std::size_t capacity)
            : q(capacity) {}
        queue q;
        eventcount space; // producers sleep here when the lane is full (overflow::block)
        std::atomic<std::size_t> inbox_size{0};
        std::mutex inbox_mutex;
        std::deque<item> inbox; // redeliveries: taken before the queue (cold path)
    };

    /// Settings already validated by the channel; builds the lanes (no thread yet).
    template <class Options>
    channel_state(std::unique_ptr<erased_handler<T>> h, const Options& o, Listener l = {},
                  std::string_view subj = {})
        : listener(std::move(l))
        , subject(subj)
        , handler(std::move(h))
        , policy(o.delivery)
        , sink(o.dead_letter)
        , on_drop(o.on_drop)
        , clock(o.clock)
        , auto_ack(o.auto_ack)
        , per_lane(o.per_key_order ? 1 : o.consumers)
        , single_popper(per_lane == 1 && !Evicting) {
        const std::size_t n = o.per_key_order ? o.consumers : 1;
        for (std::size_t i = 0; i < n; ++i)
            lanes.push_back(std::make_unique<lane>(o.capacity));
        resume_free = std::max<std::size_t>(1, lanes[0]->q.capacity() / 8);
        counters = std::make_unique<worker_counters[]>(o.consumers);
    }

    std::size_t workers_capacity() const noexcept { return per_lane * lanes.size(); }

    std::uint64_t accepted() const noexcept {
        std::uint64_t a = 0;
        for (auto& l : lanes)
            a += l->q.pushed();
        return a;
    }
    template <class F>
    std::uint64_t sum(F field) const noexcept {
        std::uint64_t s = 0;
        for (std::size_t w = 0; w < workers_capacity(); ++w)
            s += (counters[w].*field).get();
        return s;
    }

    /// A blocked producer resumes once an eighth of the lane is free (hysteresis): it then
    /// pushes a run of messages while the consumer works far behind it, instead of both
    /// fighting over the same slots one at a time.
    bool has_room(lane& l) const noexcept {
        std::uint64_t popped = l.q.popped(); // first: pushed() read later is >= popped
        std::uint64_t used = l.q.pushed() - popped;
        return l.q.capacity() - used >= resume_free;
    }

    void wait_for_space(lane& l) {
        for (int i = 0; i < 16; ++i) {
            std::this_thread::yield();
            if (has_room(l))
                return;
        }
        std::uint32_t key = l.space.prepare_wait();
        if (l.q.closed() || has_room(l)) {
            l.space.cancel_wait();
            return;
        }
        l.space.wait(key);
    }

    void push_inbox(lane& l, item&& it) {
        {
            std::lock_guard lock(l.inbox_mutex);
            l.inbox.push_back(std::move(it));
            l.inbox_size.fetch_add(1, std::memory_order_release);
        }
        l.q.interrupt_sleep();
    }

    /// A redelivery timer: waits for the backoff (or the channel's close), then hands the item
    /// back. A member (not a free template): clang 14 cannot assemble the latter's coroutine
    /// frame under -g with ASan ("Cannot represent a difference across sections").
    detached park(lane* l, item it, duration delay) {
        co_await clock.async_sleep_for(delay, stop.get_token());
        unparked.fetch_add(1, std::memory_order_seq_cst);
        push_inbox(*l, std::move(it));
        timers.fetch_sub(1, std::memory_order_release); // last touch of *this (close waits)
    }

    void notify_progress() noexcept {
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (progress_waiters.load(std::memory_order_relaxed) != 0) {
            progress.fetch_add(1, std::memory_order_seq_cst);
            progress.notify_all();
        }
    }

    template <class Pred>
    void wait_until(Pred done) {
        progress_waiters.fetch_add(1, std::memory_order_seq_cst);
        for (;;) {
            std::uint32_t e = progress.load(std::memory_order_seq_cst);
            if (done())
                break;
            progress.wait(e, std::memory_order_seq_cst);
        }
        progress_waiters.fetch_sub(1, std::memory_order_relaxed);
    }

    /// Hears the channel's events (on the publishing and the consumer threads).
    [[no_unique_address]] Listener listener;
    /// The events' `subject` (owned here, so the events' views stay valid).
    [[no_unique_address]] std::conditional_t<std::is_same_v<Listener, null_listener>, null_subject,
                                             std::string>
        subject;
    std::unique_ptr<erased_handler<T>> handler;
    delivery_policy policy;
    dead_letter_sink<T> sink;
    std::function<void(const T&)> on_drop;
    any_clock clock;
    bool auto_ack;
    std::size_t per_lane;
    bool single_popper;
    std::size_t resume_free = 1;
    std::vector<std::unique_ptr<lane>> lanes;
    std::unique_ptr<worker_counters[]> counters;
    std::stop_source stop;
    alignas(cache_line) std::atomic<std::uint64_t> rr{0};
    alignas(cache_line) std::atomic<std::uint64_t> evicted{0};
    std::atomic<std::uint64_t> unparked{0};
    std::atomic<std::uint64_t> timers{0};
    std::atomic<std::uint64_t> dropped{0};
    std::atomic<std::uint64_t> rejected{0};
    alignas(cache_line) std::atomic<std::uint32_t> progress{0};
    std::atomic<std::uint32_t> progress_waiters{0};
    std::atomic<bool> stopping{false};
    std::mutex close_mutex;
    std::vector<std::thread> workers; // last: threads start once everything above exists
};

} // namespace bulwark::detail
