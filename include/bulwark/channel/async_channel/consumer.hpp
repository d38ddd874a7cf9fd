#pragma once
/// \file
/// The consumer thread of an `async_channel`: take the next item (redeliveries first), run the
/// handler, settle (ack, redeliver after the backoff, dead letter), and sleep only when the lane
/// has stayed empty through a short spin.

#include <bulwark/channel/async_channel/core.hpp>

#include <algorithm>
#include <optional>
#include <thread>

namespace bulwark::detail {

/// Takes the next item of `l` (redeliveries first) into `out`.
template <class S>
bool next_item(S& s, typename S::lane& l, std::optional<typename S::item>& out, unsigned& pops) {
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
        s.single_popper ? l.q.template pop_into<true>(out) : l.q.template pop_into<false>(out);
    if constexpr (S::blocking) {
        // Wake blocked producers once their lane has room again: at the next pop after one is
        // seen waiting (a relaxed hint), with a fenced check every 64 pops, and always before
        // this consumer idles (consume). A producer re-checks `has_room` after announcing
        // itself, so it never sleeps through room (Dekker: its RMW vs the fence).
        if (got && (l.space.maybe_waiting() || (++pops & 63) == 0) && s.has_room(l))
            l.space.notify_all();
    }
    return got;
}

template <class S>
void redeliver(S& s, typename S::lane& l, typename S::item& it, worker_counters& c) {
    duration delay = redelivery_delay(s.policy, it.deliveries);
    bulwark::emit(s.listener, events::channel_redelivery_scheduled{
                                  s.subject, it.deliveries + 1,
                                  delay <= duration::zero() ? duration::zero() : delay});
    if (delay <= duration::zero()) {
        s.push_inbox(l, std::move(it)); // at once, ahead of the queue: per-key order holds
        return;
    }
    s.timers.fetch_add(1, std::memory_order_relaxed);
    s.park(&l, std::move(it), delay); // returns once its timer is registered (or fired)
    // Counted as parked only now: wait_idle() must not report idle while the timer does not
    // exist yet, or a manual clock advanced in between would leave it due too late.
    c.parked.bump();
}

/// One delivery of `it` and its settlement.
template <class S>
void process(S& s, typename S::lane& l, typename S::item& it, worker_counters& c) {
    using T = decltype(it.value);
    ++it.deliveries;
    delivery<T> d(it.value, it.deliveries);
    dead_letter_kind kind{};
    bulwark::emit(s.listener, events::channel_delivered{s.subject, it.deliveries});
    if constexpr (hears<decltype(s.listener), events::channel_redelivered>)
        if (it.deliveries > 1) // the backoff is deterministic: the one it waited
            bulwark::emit(s.listener, events::channel_redelivered{
                                          s.subject, it.deliveries,
                                          std::max(duration::zero(),
                                                   redelivery_delay(s.policy, it.deliveries - 1))});
    const next_step step = run_delivery(*s.handler, it, s.auto_ack, s.policy, d, kind);
    if (d.state() == delivery_state::nacked) // redelivered or dead-lettered next
        bulwark::emit(s.listener, events::channel_nacked{s.subject, it.deliveries});
    switch (step) {
    case next_step::settled_ack:
        c.acked.bump();
        c.settled.bump();
        return;
    case next_step::redeliver:
        c.redelivered.bump();
        return redeliver(s, l, it, c);
    case next_step::dead_letter:
        break;
    }
    c.dead.bump();
    bulwark::emit(s.listener, events::channel_dead_lettered{s.subject, kind, d.reason()});
    if (s.sink) {
        try {
            s.sink(dead_letter<T>{std::move(it.value), d.reason(), d.cause(), it.deliveries, kind});
        } catch (...) { // a failing sink must not kill the consumer; the letter is counted
        }
    }
    c.settled.bump();
}

/// The body of one consumer thread, until the channel closes and its lane is empty.
template <class S>
void consume(S& s, typename S::lane& l, worker_counters& c) {
    std::optional<typename S::item> it;
    unsigned pops = 0;
    auto handle = [&] {
        process(s, l, *it, c);
        it.reset();
    };
    for (;;) {
        if (next_item(s, l, it, pops)) {
            handle();
            continue;
        }
        if constexpr (S::blocking)
            l.space.notify_all();
        s.notify_progress(); // this consumer ran dry: drain()/wait_idle() may be satisfied
        bool found = false;
        for (int i = 0; i < 256 && !found; ++i) {
            if (i < 192)
                cpu_relax();
            else
                std::this_thread::yield();
            if (next_item(s, l, it, pops)) {
                handle();
                found = true;
            }
        }
        if (found)
            continue;
        std::uint32_t token;
        if (!l.q.prepare_sleep(token)) // a push claimed a slot: it is about to appear
            continue;
        if (next_item(s, l, it, pops)) {
            handle();
            continue;
        }
        if (s.stopping.load(std::memory_order_seq_cst))
            return;
        l.q.wait_sleep(token);
    }
}

} // namespace bulwark::detail
