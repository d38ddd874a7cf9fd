#pragma once
/// \file
/// `jetstream_consumer`: at-least-once delivery from a durable JetStream pull consumer, mapped
/// onto bulwark's delivery policies:
/// - the handler returns `settle::ack()` → `Ack` (never delivered again);
/// - `settle::nack(delay)` or an exception → `NakWithDelay` with `delay` (or, when 0, the
///   consumer's `redelivery_backoff` after this many deliveries) — until the delivery count
///   reaches `consumer_config::max_deliveries`; then the message is dead-lettered;
/// - `settle::term()` → dead-lettered at once (a poison message);
/// - dead-lettering = republish the message, its headers, the reason and the delivery count to
///   `dead_letter_subject` (acknowledged by the stream that captures it), hand it to the local
///   `dead_letter` sink, then `Term` the original;
/// - a handler that runs long calls `jetstream_control::in_progress()` to hold the message past
///   `ack_wait`;
/// - with `per_key_order`, messages with the same key (the `partition-key` header) are handled
///   one at a time in stream order, and a failed one is retried in place (so a later message of
///   that key never overtakes it);
/// - with a `dedupe` window, a message whose `message-id` was already handled is acked and
///   dropped: redeliveries after a lost ack (a server restart) and duplicates published outside
///   the stream's duplicate window are handled once.

#include <bulwark/channel/dead_letter.hpp>
#include <bulwark/channel/delivery.hpp>
#include <bulwark/channel/envelope.hpp>
#include <bulwark/channel/idempotent.hpp>
#include <bulwark/core/error.hpp>
#include <bulwark/core/headers.hpp>
#include <bulwark/core/outcome.hpp>
#include <bulwark/core/time.hpp>
#include <bulwark/detail/validate.hpp>
#include <bulwark/transport/message_transport.hpp>
#include <bulwark/transport/nats/jetstream.hpp>
#include <bulwark/transport/nats/status.hpp>

#include <nats/nats.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace bulwark {

/// Header names bulwark's JetStream consumer reads or writes.
namespace header {
/// The ordering key of a keyed message (same key: handled in order).
inline constexpr std::string_view partition_key = "partition-key";
/// On a dead letter: why, after how many deliveries, from which subject and stream sequence.
inline constexpr std::string_view dead_letter_reason = "dead-letter-reason";
inline constexpr std::string_view dead_letter_deliveries = "dead-letter-deliveries";
inline constexpr std::string_view dead_letter_subject = "dead-letter-subject";
inline constexpr std::string_view dead_letter_sequence = "dead-letter-stream-sequence";
} // namespace header

/// A JetStream message bulwark gave up on, as the local dead-letter sink receives it: the raw
/// bytes and headers (it may not even decode), the reason and the delivery count.
struct nats_dead_letter {
    received_message message;
    std::string reason{};
    std::uint32_t deliveries = 0;
    dead_letter_kind kind = dead_letter_kind::max_deliveries;
    std::uint64_t stream_sequence = 0;
};

/// What a JetStream handler may do beyond returning its settlement (the NATS-specific extension
/// of `message_handler`): hold the message while it works, and say why it failed.
///
/// **Thread safety:** used by the handler's thread during the call only.
class jetstream_control {
public:
    jetstream_control(natsMsg* m, std::uint32_t delivery, std::mutex* ack_mutex = nullptr) noexcept
        : msg_(m)
        , delivery_(delivery)
        , ack_mutex_(ack_mutex) {}
    /// Tells the server the message is still being worked on: its `ack_wait` starts again.
    outcome<void> in_progress() {
        natsStatus s;
        if (ack_mutex_ != nullptr) { // the consumer's in-progress ticker touches m too
            std::lock_guard lock(*ack_mutex_);
            s = natsMsg_InProgress(msg_, nullptr);
        } else {
            s = natsMsg_InProgress(msg_, nullptr);
        }
        if (s != NATS_OK)
            return detail::nats::status_failure(s, "in_progress");
        return outcome<void>::success();
    }
    /// The reason recorded if this delivery ends in a dead letter.
    void reason(std::string why) { reason_ = std::move(why); }
    /// The kind a `term` of this delivery is dead-lettered as (default: `rejected`); a typed
    /// front that cannot decode the message says `malformed`.
    void dead_letter_as(dead_letter_kind k) noexcept { kind_ = k; }
    dead_letter_kind term_kind() const noexcept { return kind_; }
    const std::string& reason() const noexcept { return reason_; }
    /// 1 on the first delivery.
    std::uint32_t delivery_count() const noexcept { return delivery_; }

private:
    natsMsg* msg_;
    std::uint32_t delivery_;
    std::mutex* ack_mutex_;
    std::string reason_{};
    dead_letter_kind kind_ = dead_letter_kind::rejected;
};

/// A JetStream handler: a `message_handler` that may also use the `jetstream_control`.
using jetstream_handler = std::function<settle(const message_view&, jetstream_control&)>;

/// Settings of a `jetstream_consumer`.
struct consume_options {
    /// Handler threads. Without `per_key_order` they share the fetched messages; with it, each
    /// owns the keys that hash to it.
    unsigned workers = 1;
    /// Messages fetched per pull request, and how long one pull waits for messages.
    int fetch_batch = 64;
    duration fetch_wait = std::chrono::milliseconds(200);
    /// The delay of a redelivery after a nack without its own delay (JetStream `NakWithDelay`).
    redelivery_backoff backoff{};
    /// Where dead letters are republished ("" = not republished; the local sink still runs).
    std::string dead_letter_subject{};
    /// The local dead-letter sink (raw bytes, headers, reason, deliveries). Runs on a worker
    /// thread, never under a lock of bulwark's; an exception it throws is ignored.
    std::function<void(nats_dead_letter&&)> dead_letter{};
    /// Same `partition-key` header: handled in order, one at a time (see the file comment).
    bool per_key_order = false;
    /// Dedupe by the `message-id` header (bulwark's idempotent-consumer window, shared across
    /// consumers and restarts of this consumer).
    std::shared_ptr<dedupe_window<message_id>> dedupe{};
    /// `AckSync` instead of `Ack`: wait for the server to confirm each ack (fewer redeliveries
    /// after a crash, one round trip per message).
    bool ack_sync = false;
    /// While a handler runs, tell the server every `ack_wait / 3` that the message is in
    /// progress, so a long handler is never redelivered under itself (typed handlers cannot
    /// reach `jetstream_control`). Off: only explicit `in_progress()` calls hold the message.
    bool auto_in_progress = true;

    void validate() const {
        constexpr std::string_view c = "jetstream_consumer";
        detail::require(workers >= 1 && workers <= 1024, c, "workers", "in [1, 1024]", workers);
        detail::require(fetch_batch >= 1, c, "fetch_batch", ">= 1", fetch_batch);
        detail::require(fetch_wait >= std::chrono::milliseconds(1), c, "fetch_wait", ">= 1ms",
                        std::chrono::duration_cast<std::chrono::milliseconds>(fetch_wait));
        backoff.validate();
    }
};

/// Counters of a `jetstream_consumer`.
struct consumer_stats {
    std::uint64_t handled = 0;       ///< acked after the handler succeeded
    std::uint64_t redelivered = 0;   ///< nacked for a later redelivery (or retried in place)
    std::uint64_t dead_lettered = 0; ///< given up on (republished / sunk, then terminated)
    std::uint64_t duplicates = 0;    ///< dropped by the dedupe window
};

/// At-least-once consumption of a durable JetStream pull consumer (see the file comment).
///
/// ```cpp
/// bulwark::jetstream_consumer worker(js, {.stream = "ORDERS", .durable = "billing",
///                                         .filter_subject = "orders.created"},
///     [](const bulwark::message_view& m, bulwark::jetstream_control&) {
///         return handle(m) ? bulwark::settle::ack() : bulwark::settle::nack();
///     },
///     {.workers = 2, .dead_letter_subject = "dead.orders"});
/// ```
///
/// **Failure semantics:** the constructor declares the consumer (identical existing: fine;
/// different: throws `resilience_error(errc::invalid_argument)` naming the differences).
/// A message is acked only after its handler returned `ack`; a consumer that dies before leaves
/// it unacked and the server redelivers it after `ack_wait`. Dead-lettering republishes before
/// it terminates: if the republish fails, the message is nacked and tried again, never lost.
/// **Time and cancellation:** the destructor stops fetching, lets running handlers finish,
/// naks what was fetched but not started (redelivered at once to another consumer), and keeps
/// the durable consumer on the server.
/// **Thread safety:** handlers run on the worker threads, never under a lock of bulwark's. The
/// `jetstream` (and its transport) must outlive the consumer; do not destroy a consumer from
/// its own handler.
class jetstream_consumer {
public:
    jetstream_consumer(jetstream& js, consumer_config cfg, jetstream_handler handler,
                       consume_options o = {})
        : conn_(js.shared_connection())
        , js_(js.native_handle())
        , cfg_(std::move(cfg))
        , handler_(std::move(handler))
        , o_(std::move(o)) {
        cfg_.validate();
        o_.validate();
        js.declare_consumer(cfg_).value();
        jsSubOptions so;
        jsSubOptions_Init(&so);
        so.Stream = cfg_.stream.c_str();
        so.Consumer = cfg_.durable.c_str();
        jsErrCode jerr{};
        natsStatus s = js_PullSubscribe(
            &sub_, js_, cfg_.filter_subject.empty() ? nullptr : cfg_.filter_subject.c_str(),
            cfg_.durable.c_str(), nullptr, &so, &jerr);
        if (s != NATS_OK)
            detail::nats::status_failure(s, "pull subscribe to '" + cfg_.durable + "'", jerr)
                .raise();
        lanes_ = std::vector<lane>(o_.workers);
        for (unsigned i = 0; i < o_.workers; ++i)
            workers_.emplace_back([this, i] { work(lanes_[i]); });
        fetcher_ = std::thread([this] { fetch_loop(); });
        if (o_.auto_in_progress)
            ticker_ = std::thread([this] { tick_loop(); });
    }
    /// The same with a plain `message_handler` (no in-progress, no reason text).
    jetstream_consumer(jetstream& js, consumer_config cfg, message_handler handler,
                       consume_options o = {})
        : jetstream_consumer(
              js, std::move(cfg),
              jetstream_handler([h = std::move(handler)](const message_view& m,
                                                         jetstream_control&) { return h(m); }),
              std::move(o)) {}

    jetstream_consumer(const jetstream_consumer&) = delete;
    jetstream_consumer& operator=(const jetstream_consumer&) = delete;
    ~jetstream_consumer() { stop(); }

    /// Stops (see the class comment). Idempotent.
    void stop() {
        if (stopping_.exchange(true))
            return;
        space_cv_.notify_all();
        { std::lock_guard lock(tick_mutex_); }
        tick_cv_.notify_all();
        if (ticker_.joinable())
            ticker_.join();
        if (fetcher_.joinable())
            fetcher_.join();
        for (auto& l : lanes_) {
            std::lock_guard lock(l.mutex);
            l.cv.notify_all();
        }
        for (auto& w : workers_)
            if (w.joinable())
                w.join();
        for (auto& l : lanes_)
            for (auto& m : l.queue)
                natsMsg_Nak(m.get(), nullptr); // fetched, never started: redeliver at once
        lanes_.clear();
        if (sub_ != nullptr)
            natsSubscription_Destroy(sub_); // not Unsubscribe: that would delete the durable
        sub_ = nullptr;
    }

    consumer_stats stats() const noexcept {
        return {handled_.load(), redelivered_.load(), dead_lettered_.load(), duplicates_.load()};
    }

private:
    struct lane {
        std::mutex mutex;
        std::condition_variable cv;
        std::deque<detail::nats::msg_ptr> queue;
        // The message whose handler runs now, for the in-progress ticker; cnats calls on it
        // from two threads are serialised by busy_mutex (never held while a handler runs).
        std::mutex busy_mutex;
        natsMsg* busy = nullptr;
        std::chrono::steady_clock::time_point last_progress{};
    };

    void tick_loop() {
        using clock = std::chrono::steady_clock;
        const duration period = std::max<duration>(cfg_.ack_wait / 3, std::chrono::milliseconds(5));
        std::unique_lock lock(tick_mutex_);
        while (!stopping_.load()) {
            tick_cv_.wait_for(lock, period, [&] { return stopping_.load(); });
            auto now = clock::now();
            for (auto& l : lanes_) {
                std::lock_guard busy(l.busy_mutex);
                if (l.busy != nullptr && now - l.last_progress >= period) {
                    natsMsg_InProgress(l.busy, nullptr);
                    l.last_progress = now;
                }
            }
        }
    }

    void fetch_loop() {
        namespace dn = detail::nats;
        const std::size_t cap = static_cast<std::size_t>(o_.fetch_batch) * lanes_.size();
        std::size_t rr = 0;
        while (!stopping_.load()) {
            {
                std::unique_lock lock(space_mutex_);
                space_cv_.wait(lock, [&] { return stopping_.load() || in_flight_ < cap; });
                if (stopping_.load())
                    return;
            }
            natsMsgList list{};
            jsErrCode jerr{};
            // The same batch every time, and never read past it: in the kill -9 test under ASan,
            // a Fetch after the reconnect (asked with a smaller batch than earlier pulls)
            // returned a Count beyond the array cnats 3.4.1 allocated; cause not pinned down.
            natsStatus s = natsSubscription_Fetch(&list, sub_, o_.fetch_batch,
                                                  dn::to_ms(o_.fetch_wait, 1), &jerr);
            if (s != NATS_OK) {
                natsMsgList_Destroy(&list);
                if (s != NATS_TIMEOUT) // disconnected, reconnecting, leader election: back off
                    std::this_thread::sleep_for(std::chrono::milliseconds(50));
                continue;
            }
            const int got = std::min(list.Count, o_.fetch_batch);
            for (int i = 0; i < got; ++i) {
                dn::msg_ptr m(list.Msgs[i]);
                list.Msgs[i] = nullptr; // taken out of the list: the list no longer frees it
                std::size_t at = rr++ % lanes_.size();
                if (o_.per_key_order) {
                    const char* key = nullptr;
                    if (natsMsgHeader_Get(m.get(), "partition-key", &key) == NATS_OK && key)
                        at = std::hash<std::string_view>{}(key) % lanes_.size();
                }
                in_flight_.fetch_add(1);
                {
                    std::lock_guard lock(lanes_[at].mutex);
                    lanes_[at].queue.push_back(std::move(m));
                }
                lanes_[at].cv.notify_one();
            }
            natsMsgList_Destroy(&list);
        }
    }

    void work(lane& l) {
        for (;;) {
            detail::nats::msg_ptr m;
            {
                std::unique_lock lock(l.mutex);
                l.cv.wait(lock, [&] { return stopping_.load() || !l.queue.empty(); });
                if (stopping_.load())
                    return; // queued messages are naked by stop()
                m = std::move(l.queue.front());
                l.queue.pop_front();
            }
            process(l, m.get());
            m.reset();
            in_flight_.fetch_sub(1);
            { std::lock_guard lock(space_mutex_); }
            space_cv_.notify_one();
        }
    }

    void process(lane& l, natsMsg* m) {
        namespace dn = detail::nats;
        std::uint32_t delivered = 1;
        std::uint64_t seq = 0;
        {
            jsMsgMetaData* meta = nullptr;
            if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
                dn::meta_ptr mp(meta);
                delivered = static_cast<std::uint32_t>(
                    std::min<std::uint64_t>(meta->NumDelivered, UINT32_MAX));
                seq = meta->Sequence.Stream;
            }
        }
        header_map headers;
        dn::get_headers(m, headers);
        if (!headers.contains(header::message_id)) // stored as Nats-Msg-Id only (jetstream::make)
            if (auto nid = headers.get(nats_msg_id_header))
                headers.set(header::message_id, std::string(*nid));
        message_id id{};
        if (o_.dedupe) {
            if (auto v = headers.get(header::message_id))
                id = message_id::parse(*v);
            if (id && o_.dedupe->contains(id)) {
                ack(m);
                duplicates_.fetch_add(1);
                return;
            }
        }
        if (delivered > cfg_.max_deliveries) { // died or timed out on the last delivery
            dead_letter(m, headers, seq, delivered - 1,
                        "delivered " + std::to_string(delivered - 1) +
                            " times without being settled (consumer stopped or ack_wait passed)",
                        dead_letter_kind::max_deliveries);
            return;
        }
        const bool keyed = o_.per_key_order && headers.contains(header::partition_key);
        message_view view{natsMsg_GetSubject(m),
                          {},
                          &headers,
                          {reinterpret_cast<const std::byte*>(natsMsg_GetData(m)),
                           static_cast<std::size_t>(natsMsg_GetDataLength(m))},
                          delivered};
        for (std::uint32_t attempt = delivered;; ++attempt) {
            view.delivery_count = attempt;
            jetstream_control ctl(m, attempt, &l.busy_mutex);
            settle st;
            {
                std::lock_guard busy(l.busy_mutex);
                l.busy = m;
                l.last_progress = std::chrono::steady_clock::now();
            }
            try {
                st = handler_(view, ctl);
            } catch (const std::exception& e) {
                st = settle::nack();
                ctl.reason(std::string("handler threw: ") + e.what());
            } catch (...) {
                st = settle::nack();
                ctl.reason("handler threw a non-standard exception");
            }
            {
                // From here on only this thread touches m: the ticker must not race our ack.
                std::lock_guard busy(l.busy_mutex);
                l.busy = nullptr;
            }
            switch (st.what) {
            case settle::kind::ack:
                ack(m);
                if (id)
                    o_.dedupe->first_seen(id);
                handled_.fetch_add(1);
                return;
            case settle::kind::term:
                dead_letter(m, headers, seq, attempt,
                            ctl.reason().empty() ? "terminated by the handler" : ctl.reason(),
                            ctl.term_kind());
                return;
            case settle::kind::nack:
                break;
            }
            if (attempt >= cfg_.max_deliveries) {
                dead_letter(m, headers, seq, attempt,
                            ctl.reason().empty() ? "nacked by the handler" : ctl.reason(),
                            dead_letter_kind::max_deliveries);
                return;
            }
            duration delay = st.delay > duration::zero() ? st.delay : o_.backoff.after(attempt);
            redelivered_.fetch_add(1);
            if (!keyed) {
                natsMsg_NakWithDelay(m, dn::to_ms(delay), nullptr);
                return;
            }
            // Keyed: retry in place so later messages of this key wait; keep the message ours.
            if (!hold(m, delay)) {
                natsMsg_Nak(m, nullptr); // stopping: hand it back
                return;
            }
        }
    }

    /// Waits `delay` (stop-aware), telling the server every ack_wait/3 that we still work on m.
    bool hold(natsMsg* m, duration delay) {
        using clock = std::chrono::steady_clock;
        const auto until = clock::now() + delay;
        const duration tick = std::max<duration>(cfg_.ack_wait / 3, std::chrono::milliseconds(1));
        natsMsg_InProgress(m, nullptr);
        auto last = clock::now();
        for (auto now = clock::now(); now < until; now = clock::now()) {
            if (stopping_.load())
                return false;
            if (now - last >= tick) {
                natsMsg_InProgress(m, nullptr);
                last = now;
            }
            std::this_thread::sleep_for(std::min<duration>(
                {tick, duration(std::chrono::milliseconds(10)), duration(until - now)}));
        }
        return true;
    }

    void ack(natsMsg* m) {
        if (o_.ack_sync) {
            jsErrCode jerr{};
            natsMsg_AckSync(m, nullptr, &jerr);
        } else {
            natsMsg_Ack(m, nullptr);
        }
    }

    void dead_letter(natsMsg* m, const header_map& headers, std::uint64_t seq,
                     std::uint32_t deliveries, const std::string& reason, dead_letter_kind kind) {
        namespace dn = detail::nats;
        if (!o_.dead_letter_subject.empty()) {
            header_map h = headers;
            h.erase(nats_msg_id_header); // the dead letter has its own id (below)
            h.set(header::dead_letter_reason, reason);
            h.set(header::dead_letter_deliveries, std::to_string(deliveries));
            h.set(header::dead_letter_subject, natsMsg_GetSubject(m));
            h.set(header::dead_letter_sequence, std::to_string(seq));
            dn::msg_ptr out;
            natsStatus s = dn::make_msg(out, o_.dead_letter_subject, {}, h, natsMsg_GetData(m),
                                        natsMsg_GetDataLength(m));
            if (s == NATS_OK) {
                // A retried dead letter is stored once: its id is the original's stream sequence.
                std::string dl_id = "dl-" + cfg_.stream + "-" + std::to_string(seq);
                natsMsgHeader_Set(out.get(), "Nats-Msg-Id", dl_id.c_str());
                jsPubAck* pa = nullptr;
                jsErrCode jerr{};
                s = js_PublishMsg(&pa, js_, out.get(), nullptr, &jerr);
                dn::pub_ack_ptr ack(pa);
                if (s == NATS_NO_RESPONDERS) // no stream captures it: a core publish
                    s = natsConnection_PublishMsg(conn_->nc, out.get());
            }
            if (s != NATS_OK) { // never term what we could not put somewhere
                natsMsg_NakWithDelay(m, 1000, nullptr);
                return;
            }
        }
        if (o_.dead_letter) {
            nats_dead_letter d;
            d.message.subject = natsMsg_GetSubject(m);
            d.message.headers = headers;
            const auto* p = reinterpret_cast<const std::byte*>(natsMsg_GetData(m));
            d.message.data.assign(p, p + natsMsg_GetDataLength(m));
            d.reason = reason;
            d.deliveries = deliveries;
            d.kind = kind;
            d.stream_sequence = seq;
            try {
                o_.dead_letter(std::move(d));
            } catch (...) {
            }
        }
        natsMsg_Term(m, nullptr);
        dead_lettered_.fetch_add(1);
    }

    std::shared_ptr<detail::nats::connection> conn_;
    jsCtx* js_;
    consumer_config cfg_;
    jetstream_handler handler_;
    consume_options o_;
    natsSubscription* sub_ = nullptr;
    std::vector<lane> lanes_;
    std::vector<std::thread> workers_;
    std::thread fetcher_;
    std::thread ticker_;
    std::mutex tick_mutex_;
    std::condition_variable tick_cv_;
    std::atomic<bool> stopping_{false};
    std::atomic<std::size_t> in_flight_{0};
    std::mutex space_mutex_;
    std::condition_variable space_cv_;
    std::atomic<std::uint64_t> handled_{0}, redelivered_{0}, dead_lettered_{0}, duplicates_{0};
};

} // namespace bulwark
