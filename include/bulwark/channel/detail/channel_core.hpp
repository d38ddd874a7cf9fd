#pragma once
/// \file
/// The engine of `async_channel`: lanes (a bounded lock-free queue, an event count for idle
/// consumers and one for blocked producers, and a small locked inbox for redeliveries), the
/// consumer threads, and the exact accounting that `drain`, `wait_idle` and `close` rely on.
///
/// Accounting without a shared counter on the hot path: "accepted" is the sum of the queues'
/// enqueue positions (the push CAS counts it); "settled" and "parked" are per-consumer counters
/// written by their owner only. Each message settles exactly once (ack or dead letter; a drop by
/// drop_oldest counts as settled), so `drain` is "settled == accepted".

#include <bulwark/channel/dead_letter.hpp>
#include <bulwark/channel/delivery.hpp>
#include <bulwark/channel/detail/channel_sync.hpp>
#include <bulwark/channel/detail/delivery_settle.hpp>
#include <bulwark/channel/queue.hpp>
#include <bulwark/core/error.hpp>
#include <bulwark/core/time.hpp>
#include <bulwark/detail/validate.hpp>

#include <algorithm>
#include <atomic>
#include <concepts>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <system_error>
#include <thread>
#include <vector>

namespace bulwark {
template <class T>
struct async_channel_options;
}

namespace bulwark::detail {

template <class T, class QueueSel, class Overflow>
class channel_core {
    using item = channel_item<T>;
    using queue = typename QueueSel::template queue_type<item>;
    static constexpr bool blocking = std::same_as<Overflow, overflow::block>;

    struct lane {
        explicit lane(std::size_t capacity)
            : q(capacity) {}
        queue q;
        eventcount space; // producers sleep here when the lane is full (overflow::block)
        std::atomic<std::size_t> inbox_size{0};
        std::mutex inbox_mutex;
        std::deque<item> inbox; // redeliveries: taken before the queue (cold path)
    };

public:
    channel_core(std::unique_ptr<erased_handler<T>> handler, const async_channel_options<T>& o)
        : handler_(std::move(handler))
        , delivery_(o.delivery)
        , sink_(o.dead_letter)
        , on_drop_(o.on_drop)
        , clock_(o.clock)
        , auto_ack_(o.auto_ack) {
        detail::require(o.capacity >= 1 && o.capacity <= max_channel_capacity, "async_channel",
                        "capacity", "in [1, 2^30]", o.capacity);
        detail::require(o.consumers >= 1 && o.consumers <= 4096, "async_channel", "consumers",
                        "in [1, 4096]", o.consumers);
        // Keyed channels allocate one ring per consumer: bound the product too (no overflow:
        // both factors are bounded above, so the product fits in 64 bits).
        detail::require(!o.per_key_order || o.capacity * o.consumers <= max_channel_slots,
                        "async_channel", "capacity * consumers", "<= 2^32 with per_key_order",
                        o.capacity * o.consumers);
        if (!QueueSel::multi_consumer && !o.per_key_order && o.consumers > 1)
            throw invalid_argument_error(
                "async_channel: an mpsc queue allows one consumer per lane; use bulwark::mpmc "
                "or per_key_order = true for several consumers");
        std::visit(
            [](const auto& p) {
                if constexpr (requires { p.validate(); })
                    p.validate();
            },
            delivery_);
        std::size_t lanes = o.per_key_order ? o.consumers : 1;
        per_lane_ = o.per_key_order ? 1 : o.consumers;
        single_popper_ = per_lane_ == 1 && !std::same_as<Overflow, overflow::drop_oldest>;
        for (std::size_t i = 0; i < lanes; ++i)
            lanes_.push_back(std::make_unique<lane>(o.capacity));
        resume_free_ = std::max<std::size_t>(1, lanes_[0]->q.capacity() / 8);
        counters_ = std::make_unique<worker_counters[]>(o.consumers);
        workers_.reserve(o.consumers);
        try {
            for (std::size_t w = 0; w < o.consumers; ++w)
                workers_.emplace_back([this, w] { run(*lanes_[w / per_lane_], counters_[w]); });
        } catch (...) { // could not start every consumer: stop the ones that run, then fail
            close();
            throw;
        }
    }
    channel_core(const channel_core&) = delete;
    ~channel_core() { close(); }

    std::size_t lane_count() const noexcept { return lanes_.size(); }
    std::size_t capacity() const noexcept { return lanes_[0]->q.capacity(); }
    std::size_t lane_of(std::uint64_t hash) const noexcept {
        return mix_hash(hash) % lanes_.size();
    }
    std::size_t next_lane() noexcept {
        return lanes_.size() == 1 ? 0 : rr_.fetch_add(1, std::memory_order_relaxed) % lanes_.size();
    }

    /// Enqueues per the overflow policy. No allocation, no lock (except a drop's callback).
    std::error_code publish(T&& v, std::size_t li, bool may_block) {
        lane& l = *lanes_[li];
        for (;;) {
            bool sleepers = false;
            switch (l.q.try_push(std::move(v), sleepers)) {
            case push_status::ok:
                if (sleepers) // a consumer announced sleep before our push CAS: wake it
                    l.q.wake_sleepers();
                return {};
            case push_status::closed:
                return errc::channel_closed;
            case push_status::full:
                break;
            }
            if constexpr (std::same_as<Overflow, overflow::reject>) {
                rejected_.fetch_add(1, std::memory_order_relaxed);
                return errc::queue_full;
            } else if constexpr (std::same_as<Overflow, overflow::drop_newest>) {
                dropped_.fetch_add(1, std::memory_order_relaxed);
                if (on_drop_)
                    on_drop_(v);
                return {};
            } else if constexpr (std::same_as<Overflow, overflow::drop_oldest>) {
                if (auto old = l.q.try_pop()) {
                    dropped_.fetch_add(1, std::memory_order_relaxed);
                    evicted_.fetch_add(1, std::memory_order_seq_cst);
                    notify_progress();
                    if (on_drop_)
                        on_drop_(old->value);
                }
            } else {
                if (!may_block)
                    return errc::queue_full;
                wait_for_space(l);
            }
        }
    }

    /// Blocks until every message accepted so far is settled (acked or dead-lettered).
    void drain() {
        wait_until([this] {
            std::uint64_t s = evicted_.load(std::memory_order_seq_cst);
            for (std::size_t w = 0; w < workers_capacity(); ++w)
                s += counters_[w].settled.get();
            return s == accepted();
        });
    }
    /// Blocks until nothing is queued or running; parked redeliveries may remain.
    void wait_idle() {
        wait_until([this] {
            std::uint64_t out = evicted_.load(std::memory_order_seq_cst);
            for (std::size_t w = 0; w < workers_capacity(); ++w)
                out += counters_[w].settled.get() + counters_[w].parked.get();
            std::uint64_t in = unparked_.load(std::memory_order_seq_cst);
            return out == accepted() + in;
        });
    }
    /// Stops accepting, delivers everything accepted (parked redeliveries at once), joins.
    void close() {
        std::lock_guard guard(close_mutex_);
        if (workers_.empty())
            return;
        for (auto& l : lanes_) {
            l->q.close();
            l->space.notify_all();
        }
        stop_.request_stop(); // parked redeliveries fire now: deliver early rather than lose them
        drain();
        while (timers_.load(std::memory_order_acquire) != 0)
            std::this_thread::yield();
        stopping_.store(true, std::memory_order_seq_cst);
        for (auto& l : lanes_)
            l->q.interrupt_sleep();
        for (auto& t : workers_)
            t.join();
        workers_.clear();
    }
    bool closed() const noexcept { return lanes_[0]->q.closed(); }

    std::uint64_t accepted() const noexcept {
        std::uint64_t a = 0;
        for (auto& l : lanes_)
            a += l->q.pushed();
        return a;
    }
    template <class F>
    std::uint64_t sum(F field) const noexcept {
        std::uint64_t s = 0;
        for (std::size_t w = 0; w < workers_capacity(); ++w)
            s += (counters_[w].*field).get();
        return s;
    }
    std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }
    std::uint64_t rejected() const noexcept { return rejected_.load(std::memory_order_relaxed); }
    std::uint64_t pending_redeliveries() const noexcept {
        return timers_.load(std::memory_order_acquire);
    }

private:
    std::size_t workers_capacity() const noexcept { return per_lane_ * lanes_.size(); }

    /// A blocked producer resumes once an eighth of the lane is free (hysteresis): it then
    /// pushes a run of messages while the consumer works far behind it, instead of both
    /// fighting over the same slots one at a time.
    bool has_room(lane& l) const noexcept {
        std::uint64_t popped = l.q.popped(); // first: pushed() read later is >= popped
        std::uint64_t used = l.q.pushed() - popped;
        return l.q.capacity() - used >= resume_free_;
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

    /// Takes the next item (redeliveries first) into `out`.
    bool next(lane& l, std::optional<item>& out, unsigned& pops) {
        if (l.inbox_size.load(std::memory_order_acquire) != 0) {
            std::lock_guard lock(l.inbox_mutex);
            if (!l.inbox.empty()) {
                out.emplace(std::move(l.inbox.front()));
                l.inbox.pop_front();
                l.inbox_size.fetch_sub(1, std::memory_order_release);
                return true;
            }
        }
        // A lane with one consumer and no evicting producer pops without a CAS.
        bool got =
            single_popper_ ? l.q.template pop_into<true>(out) : l.q.template pop_into<false>(out);
        if constexpr (blocking) {
            // Wake blocked producers once their lane has room again: at the next pop after one
            // is seen waiting (a relaxed hint), with a fenced check every 64 pops, and always
            // before this consumer idles (run). A producer re-checks `has_room` after
            // announcing itself, so it never sleeps through room (Dekker: its RMW vs the fence).
            if (got && (l.space.maybe_waiting() || (++pops & 63) == 0) && has_room(l))
                l.space.notify_all();
        }
        return got;
    }

    void run(lane& l, worker_counters& c) {
        std::optional<item> it;
        unsigned pops = 0;
        auto handle = [&] {
            process(l, *it, c);
            it.reset();
        };
        for (;;) {
            if (next(l, it, pops)) {
                handle();
                continue;
            }
            if constexpr (blocking)
                l.space.notify_all();
            notify_progress(); // this consumer ran dry: drain()/wait_idle() may be satisfied
            bool found = false;
            for (int i = 0; i < 256 && !found; ++i) {
                if (i < 192)
                    cpu_relax();
                else
                    std::this_thread::yield();
                if (next(l, it, pops)) {
                    handle();
                    found = true;
                }
            }
            if (found)
                continue;
            std::uint32_t token;
            if (!l.q.prepare_sleep(token)) // a push claimed a slot: it is about to appear
                continue;
            if (next(l, it, pops)) {
                handle();
                continue;
            }
            if (stopping_.load(std::memory_order_seq_cst))
                return;
            l.q.wait_sleep(token);
        }
    }

    void process(lane& l, item& it, worker_counters& c) {
        ++it.deliveries;
        delivery<T> d(it.value, it.deliveries);
        dead_letter_kind kind{};
        switch (run_delivery(*handler_, it, auto_ack_, delivery_, d, kind)) {
        case next_step::settled_ack:
            c.acked.bump();
            c.settled.bump();
            return;
        case next_step::redeliver:
            c.redelivered.bump();
            return redeliver(l, it, c);
        case next_step::dead_letter:
            break;
        }
        c.dead.bump();
        if (sink_) {
            try {
                sink_(dead_letter<T>{std::move(it.value), d.reason(), d.cause(), it.deliveries,
                                     kind});
            } catch (...) { // a failing sink must not kill the consumer; the letter is counted
            }
        }
        c.settled.bump();
    }

    void redeliver(lane& l, item& it, worker_counters& c) {
        duration delay = redelivery_delay(delivery_, it.deliveries);
        if (delay <= duration::zero()) {
            push_inbox(l, std::move(it)); // at once, ahead of the queue: per-key order holds
            return;
        }
        timers_.fetch_add(1, std::memory_order_relaxed);
        park(&l, std::move(it), delay); // returns once its timer is registered (or fired)
        // Counted as parked only now: wait_idle() must not report idle while the timer does not
        // exist yet, or a manual clock advanced in between would leave it due too late.
        c.parked.bump();
    }

    detached park(lane* l, item it, duration delay) {
        co_await clock_.async_sleep_for(delay, stop_.get_token());
        unparked_.fetch_add(1, std::memory_order_seq_cst);
        push_inbox(*l, std::move(it));
        timers_.fetch_sub(1, std::memory_order_release); // last touch of *this (close waits)
    }

    void push_inbox(lane& l, item&& it) {
        {
            std::lock_guard lock(l.inbox_mutex);
            l.inbox.push_back(std::move(it));
            l.inbox_size.fetch_add(1, std::memory_order_release);
        }
        l.q.interrupt_sleep();
    }

    void notify_progress() noexcept {
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (progress_waiters_.load(std::memory_order_relaxed) != 0) {
            progress_.fetch_add(1, std::memory_order_seq_cst);
            progress_.notify_all();
        }
    }

    template <class Pred>
    void wait_until(Pred done) {
        progress_waiters_.fetch_add(1, std::memory_order_seq_cst);
        for (;;) {
            std::uint32_t e = progress_.load(std::memory_order_seq_cst);
            if (done())
                break;
            progress_.wait(e, std::memory_order_seq_cst);
        }
        progress_waiters_.fetch_sub(1, std::memory_order_relaxed);
    }

    std::unique_ptr<erased_handler<T>> handler_;
    delivery_policy delivery_;
    dead_letter_sink<T> sink_;
    std::function<void(const T&)> on_drop_;
    any_clock clock_;
    bool auto_ack_;
    std::size_t per_lane_ = 1;
    bool single_popper_ = false;
    std::size_t resume_free_ = 1;
    std::vector<std::unique_ptr<lane>> lanes_;
    std::unique_ptr<worker_counters[]> counters_;
    std::stop_source stop_;
    alignas(cache_line) std::atomic<std::uint64_t> rr_{0};
    alignas(cache_line) std::atomic<std::uint64_t> evicted_{0};
    std::atomic<std::uint64_t> unparked_{0};
    std::atomic<std::uint64_t> timers_{0};
    std::atomic<std::uint64_t> dropped_{0};
    std::atomic<std::uint64_t> rejected_{0};
    alignas(cache_line) std::atomic<std::uint32_t> progress_{0};
    std::atomic<std::uint32_t> progress_waiters_{0};
    std::atomic<bool> stopping_{false};
    std::mutex close_mutex_;
    std::vector<std::thread> workers_; // last: threads start once everything above exists
};

} // namespace bulwark::detail
