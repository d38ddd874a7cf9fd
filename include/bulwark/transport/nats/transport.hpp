#pragma once
/// \file
/// `nats_transport`: the byte `message_transport` over core NATS (cnats): publish with headers,
/// subscribe with wildcards and queue groups, request/reply with a deadline, drain.

#include <bulwark/core/error.hpp>
#include <bulwark/core/headers.hpp>
#include <bulwark/core/outcome.hpp>
#include <bulwark/core/time.hpp>
#include <bulwark/transport/message_transport.hpp>
#include <bulwark/transport/nats/options.hpp>
#include <bulwark/transport/nats/status.hpp>

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstddef>
#include <cstring>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bulwark {

namespace detail::nats {

/// The thread-local "inside a callback of this object" marker: waits that a callback would
/// deadlock on (unsubscribe of its own subscription, drain) are skipped there.
inline const void*& current_callback() noexcept {
    thread_local const void* owner = nullptr;
    return owner;
}
struct callback_scope {
    const void* saved;
    explicit callback_scope(const void* owner) noexcept
        : saved(current_callback()) {
        current_callback() = owner;
    }
    ~callback_scope() { current_callback() = saved; }
    callback_scope(const callback_scope&) = delete;
    callback_scope& operator=(const callback_scope&) = delete;
};

/// What the connection callbacks need; shared with cnats through a heap `shared_ptr` that the
/// closed callback (the last one cnats makes) deletes.
struct conn_events {
    nats_listener listener;
    std::mutex mutex;
    std::condition_variable cv;
    bool closed = false;

    void emit(natsConnection* nc, nats_event_kind kind, std::string_view detail = {}) {
        if (!listener)
            return;
        char url[256] = {0};
        if (nc != nullptr && kind != nats_event_kind::closed &&
            natsConnection_GetConnectedUrl(nc, url, sizeof url) != NATS_OK)
            url[0] = '\0';
        try {
            listener(nats_event{kind, url, detail});
        } catch (...) { // a listener's exception must not unwind into cnats' C thread
        }
    }
    /// Waits until the closed callback ran (bounded: cnats may never call it for a connection
    /// that never connected).
    bool wait_closed(duration d) {
        std::unique_lock lock(mutex);
        return cv.wait_for(lock, d, [&] { return closed; });
    }

    static void on_disconnected(natsConnection* nc, void* c) {
        (*static_cast<std::shared_ptr<conn_events>*>(c))->emit(nc, nats_event_kind::disconnected);
    }
    static void on_reconnected(natsConnection* nc, void* c) {
        (*static_cast<std::shared_ptr<conn_events>*>(c))->emit(nc, nats_event_kind::reconnected);
    }
    static void on_connected(natsConnection* nc, void* c) {
        (*static_cast<std::shared_ptr<conn_events>*>(c))->emit(nc, nats_event_kind::connected);
    }
    static void on_error(natsConnection* nc, natsSubscription*, natsStatus err, void* c) {
        (*static_cast<std::shared_ptr<conn_events>*>(c))
            ->emit(nc, nats_event_kind::error, natsStatus_GetText(err));
    }
    static void on_closed(natsConnection* nc, void* c) {
        auto* holder = static_cast<std::shared_ptr<conn_events>*>(c);
        std::shared_ptr<conn_events> self = *holder;
        delete holder; // cnats calls nothing after the closed callback
        self->emit(nc, nats_event_kind::closed);
        {
            std::lock_guard lock(self->mutex);
            self->closed = true;
        }
        self->cv.notify_all();
    }
};

/// The connection: owned by the transport and shared by its subscriptions and JetStream
/// contexts, so that cnats objects are destroyed before the connection (the cnats rule).
struct connection {
    natsConnection* nc = nullptr;
    std::shared_ptr<conn_events> events = std::make_shared<conn_events>();
    duration drain_timeout{};
    std::atomic<bool> drained{false};
    std::mutex keep_mutex;
    std::vector<std::shared_ptr<void>> keep_alive; // closures cnats may call until it closes

    connection() = default;
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    /// Drains (bounded by `drain_timeout`) and waits for the closed callback, once.
    void drain() {
        if (nc == nullptr || drained.exchange(true))
            return;
        natsStatus s = natsConnection_DrainTimeout(nc, to_ms(drain_timeout, 1));
        if (s != NATS_OK)
            natsConnection_Close(nc);
        if (current_callback() == nullptr) // inside a message callback the drain would wait on us
            events->wait_closed(drain_timeout + std::chrono::seconds(2));
    }
    ~connection() {
        if (nc == nullptr)
            return;
        drain();
        natsConnection_Close(nc);
        events->wait_closed(std::chrono::seconds(2));
        natsConnection_Destroy(nc);
    }
};

/// One core subscription's state; cnats holds it (through a heap `shared_ptr`) until its
/// on-complete callback, after the last message was dispatched.
struct sub_state {
    message_handler handler;
    natsSubscription* sub = nullptr;
    std::atomic<bool> stopped{false};
    std::mutex mutex;
    std::condition_variable cv;
    bool complete = false;

    static void on_msg(natsConnection*, natsSubscription*, natsMsg* raw, void* c) {
        msg_ptr m(raw); // the callee owns the message
        auto& self = **static_cast<std::shared_ptr<sub_state>*>(c);
        if (self.stopped.load(std::memory_order_acquire))
            return;
        header_map headers;
        get_headers(m.get(), headers);
        const char* reply = natsMsg_GetReply(m.get());
        message_view view{natsMsg_GetSubject(m.get()),
                          reply ? std::string_view(reply) : std::string_view{},
                          &headers,
                          {reinterpret_cast<const std::byte*>(natsMsg_GetData(m.get())),
                           static_cast<std::size_t>(natsMsg_GetDataLength(m.get()))},
                          1};
        callback_scope scope(&self);
        try {
            (void)self.handler(view); // core NATS has no acks: the settlement is ignored
        } catch (...) { // at-most-once: a failed handler loses this message, never the thread
        }
    }
    static void on_complete(void* c) {
        auto* holder = static_cast<std::shared_ptr<sub_state>*>(c);
        std::shared_ptr<sub_state> self = *holder;
        delete holder;
        {
            std::lock_guard lock(self->mutex);
            self->complete = true;
        }
        self->cv.notify_all();
    }
};

} // namespace detail::nats

/// A subscription of a `nats_transport`: unsubscribes when destroyed (RAII).
///
/// **Thread safety:** `unsubscribe` from any thread, including the subscription's own handler.
/// After `unsubscribe` returns (outside the handler), the handler is not running and will not
/// run again.
class nats_subscription {
public:
    nats_subscription() = default;
    nats_subscription(std::shared_ptr<detail::nats::connection> conn,
                      std::shared_ptr<detail::nats::sub_state> state) noexcept
        : conn_(std::move(conn))
        , state_(std::move(state)) {}
    nats_subscription(nats_subscription&& o) noexcept = default;
    nats_subscription& operator=(nats_subscription&& o) noexcept {
        if (this != &o) {
            unsubscribe();
            conn_ = std::move(o.conn_);
            state_ = std::move(o.state_);
        }
        return *this;
    }
    ~nats_subscription() { unsubscribe(); }

    /// Stops the subscription; returns whether it was active.
    bool unsubscribe() noexcept {
        if (!state_)
            return false;
        auto st = std::move(state_);
        st->stopped.store(true, std::memory_order_release);
        natsSubscription_Unsubscribe(st->sub); // fails harmlessly on a closed connection
        if (detail::nats::current_callback() != st.get()) {
            std::unique_lock lock(st->mutex);
            st->cv.wait_for(lock, std::chrono::seconds(5), [&] { return st->complete; });
        }
        natsSubscription_Destroy(st->sub);
        conn_.reset();
        return true;
    }
    bool active() const noexcept { return state_ != nullptr; }
    explicit operator bool() const noexcept { return active(); }

private:
    std::shared_ptr<detail::nats::connection> conn_;
    std::shared_ptr<detail::nats::sub_state> state_;
};

/// A reply to a request, or a message to keep: see `received_message`.

/// The byte message transport over core NATS.
///
/// ```cpp
/// bulwark::nats_transport nats({.servers = {"nats://127.0.0.1:4222"}, .name = "orders"});
/// auto sub = nats.subscribe("orders.*", "workers", [](const bulwark::message_view& m) {
///     ...; return bulwark::settle::ack();
/// });
/// nats.publish("orders.created", headers, bytes);
/// auto reply = nats.request("prices.get", headers, bytes, deadline);   //
/// outcome<received_message>
/// ```
///
/// **Failure semantics:** the constructor throws `invalid_argument_error` for bad options and
/// `resilience_error(errc::transport_error)` when it cannot connect (unless
/// `retry_on_failed_connect`). Calls return failures as values: `errc::no_responders` at once
/// when nobody listens to a request, `errc::timeout` past the deadline, `errc::channel_closed`
/// after drain, `errc::transport_error` otherwise, each with a text naming the call.
/// Core NATS is at-most-once: a message published while nobody subscribes is dropped; while
/// disconnected, publishes are buffered (up to `reconnect_buffer_bytes`) and sent on reconnect.
/// **Thread safety:** every member may be called from any thread. Handlers run on cnats'
/// delivery thread of their subscription (one thread per subscription: messages of one
/// subscription are handled one at a time, in order), never under a lock of bulwark's.
/// **Allocation:** a publish without headers allocates nothing in bulwark (cnats copies the
/// payload into its write buffer); with headers, cnats allocates one message.
/// **Shutdown:** the destructor (and `drain()`) drains: pending publishes are flushed, queued
/// messages are handled, then the connection closes. Subscriptions and JetStream contexts keep
/// the cnats connection object alive until they are gone.
class nats_transport {
public:
    using transport_concept = transport_tag;
    using subscription_type = nats_subscription;

    /// Connects (see the failure semantics above).
    explicit nats_transport(nats_options o = {})
        : conn_(std::make_shared<detail::nats::connection>()) {
        o.validate();
        namespace dn = detail::nats;
        conn_->events->listener = std::move(o.listener);
        conn_->drain_timeout = o.drain_timeout;
        natsOptions* raw = nullptr;
        check(natsOptions_Create(&raw), "options");
        dn::options_ptr opts(raw);
        std::vector<const char*> urls;
        for (const auto& s : o.servers)
            urls.push_back(s.c_str());
        check(natsOptions_SetServers(raw, urls.data(), static_cast<int>(urls.size())), "servers");
        check(natsOptions_SetName(raw, o.name.c_str()), "name");
        check(natsOptions_SetNoRandomize(raw, !o.randomize_servers), "randomize_servers");
        check(natsOptions_SetTimeout(raw, dn::to_ms(o.connect_timeout, 1)), "connect_timeout");
        check(natsOptions_SetReconnectWait(raw, dn::to_ms(o.reconnect_wait)), "reconnect_wait");
        check(natsOptions_SetReconnectJitter(raw, dn::to_ms(o.reconnect_jitter),
                                             dn::to_ms(o.reconnect_jitter)),
              "reconnect_jitter");
        check(natsOptions_SetMaxReconnect(raw, o.max_reconnects), "max_reconnects");
        check(natsOptions_SetReconnectBufSize(raw, static_cast<int>(o.reconnect_buffer_bytes)),
              "reconnect_buffer_bytes");
        check(natsOptions_SetFailRequestsOnDisconnect(raw, o.fail_requests_on_disconnect),
              "fail_requests_on_disconnect");
        check(natsOptions_SetSendAsap(raw, o.send_asap), "send_asap");
        auto* closure = new std::shared_ptr<dn::conn_events>(conn_->events);
        check(natsOptions_SetDisconnectedCB(raw, &dn::conn_events::on_disconnected, closure),
              "listener", closure);
        check(natsOptions_SetReconnectedCB(raw, &dn::conn_events::on_reconnected, closure),
              "listener", closure);
        check(natsOptions_SetClosedCB(raw, &dn::conn_events::on_closed, closure), "listener",
              closure);
        check(natsOptions_SetErrorHandler(raw, &dn::conn_events::on_error, closure), "listener",
              closure);
        if (o.retry_on_failed_connect)
            check(natsOptions_SetRetryOnFailedConnect(raw, true, &dn::conn_events::on_connected,
                                                      closure),
                  "retry_on_failed_connect", closure);
        natsConnection* nc = nullptr;
        natsStatus s = natsConnection_Connect(&nc, raw);
        if (s == NATS_NOT_YET_CONNECTED && nc != nullptr) {
            conn_->nc = nc; // connecting in the background; `connected` comes from cnats
            return;
        }
        if (s != NATS_OK) {
            delete closure; // no connection: cnats will call none of the callbacks
            std::string all;
            for (const auto& u : o.servers)
                all.append(all.empty() ? "" : ", ").append(u);
            throw resilience_error(errc::transport_error,
                                   "bulwark::nats_transport: cannot connect to [" + all +
                                       "]: " + natsStatus_GetText(s));
        }
        conn_->nc = nc;
        conn_->events->emit(nc, nats_event_kind::connected);
    }

    nats_transport(nats_transport&&) noexcept = default;
    nats_transport& operator=(nats_transport&&) noexcept = default;
    ~nats_transport() {
        if (conn_)
            conn_->drain();
    }

    /// Publishes `data` with `headers` to `subject` (no wildcards).
    outcome<void> publish(std::string_view subject, const header_map& headers,
                          std::span<const std::byte> data) {
        return publish_with_reply(subject, {}, headers, data);
    }
    /// Publishes with a reply subject (how a requester that manages its own inbox asks).
    outcome<void> publish_with_reply(std::string_view subject, std::string_view reply,
                                     const header_map& headers, std::span<const std::byte> data) {
        namespace dn = detail::nats;
        if (data.size() > static_cast<std::size_t>(INT_MAX)) [[unlikely]]
            return dn::make_failure(errc::invalid_argument,
                                    "bulwark::nats: payload larger than INT_MAX bytes");
        natsStatus s;
        if (headers.empty() && reply.empty()) {
            s = natsConnection_Publish(conn_->nc, dn::c_str(subject).get(), data.data(),
                                       static_cast<int>(data.size()));
        } else {
            dn::msg_ptr m;
            s = dn::make_msg(m, subject, reply, headers, data.data(),
                             static_cast<int>(data.size()));
            if (s == NATS_OK)
                s = natsConnection_PublishMsg(conn_->nc, m.get());
        }
        if (s != NATS_OK) [[unlikely]]
            return dn::status_failure(s, "publish to '" + std::string(subject) + "'");
        return outcome<void>::success();
    }

    /// Subscribes `handler` to `pattern` (wildcards `*` and `>`); with a non-empty `queue_group`,
    /// each message goes to one member of the group. The handler's settlement is ignored (core
    /// NATS has no acknowledgements; see `jetstream` for at-least-once).
    /// **Failure semantics:** throws `resilience_error` (invalid subject, closed connection):
    /// a subscription that silently does not exist would lose messages.
    nats_subscription subscribe(std::string_view pattern, std::string_view queue_group,
                                message_handler handler) {
        namespace dn = detail::nats;
        auto st = std::make_shared<dn::sub_state>();
        st->handler = std::move(handler);
        auto* closure = new std::shared_ptr<dn::sub_state>(st);
        natsSubscription* sub = nullptr;
        natsStatus s = queue_group.empty()
                           ? natsConnection_Subscribe(&sub, conn_->nc, dn::c_str(pattern).get(),
                                                      &dn::sub_state::on_msg, closure)
                           : natsConnection_QueueSubscribe(
                                 &sub, conn_->nc, dn::c_str(pattern).get(),
                                 dn::c_str(queue_group).get(), &dn::sub_state::on_msg, closure);
        if (s != NATS_OK) {
            delete closure;
            dn::status_failure(s, "subscribe to '" + std::string(pattern) + "'").raise();
        }
        st->sub = sub;
        if (natsSubscription_SetOnCompleteCB(sub, &dn::sub_state::on_complete, closure) !=
            NATS_OK) {
            // Closed already (the connection closed under us): cnats delivers nothing more;
            // the closure stays allocated rather than risk a late callback on freed memory.
            std::lock_guard lock(st->mutex);
            st->complete = true;
        }
        return nats_subscription(conn_, std::move(st));
    }

    /// Sends a request and waits for the first reply until `deadline` (steady clock).
    /// `errc::no_responders` at once when nobody subscribes to `subject`; `errc::timeout` when
    /// the deadline passes (a deadline already passed fails at once without sending).
    outcome<received_message> request(std::string_view subject, const header_map& headers,
                                      std::span<const std::byte> data, time_point deadline) {
        namespace dn = detail::nats;
        std::int64_t ms = dn::ms_until(deadline);
        if (ms <= 0)
            return dn::make_failure(errc::timeout, "bulwark::nats: request to '" +
                                                       std::string(subject) +
                                                       "': the deadline passed before sending");
        if (data.size() > static_cast<std::size_t>(INT_MAX)) [[unlikely]]
            return dn::make_failure(errc::invalid_argument,
                                    "bulwark::nats: payload larger than INT_MAX bytes");
        natsMsg* reply = nullptr;
        natsStatus s;
        if (headers.empty()) {
            s = natsConnection_Request(&reply, conn_->nc, dn::c_str(subject).get(), data.data(),
                                       static_cast<int>(data.size()), ms);
        } else {
            dn::msg_ptr m;
            s = dn::make_msg(m, subject, {}, headers, data.data(), static_cast<int>(data.size()));
            if (s == NATS_OK)
                s = natsConnection_RequestMsg(&reply, conn_->nc, m.get(), ms);
        }
        dn::msg_ptr r(reply);
        if (s != NATS_OK)
            return dn::status_failure(s, "request to '" + std::string(subject) + "'");
        return to_received(r.get());
    }

    /// Flushes buffered publishes to the server and waits for its acknowledgement, until
    /// `deadline`.
    outcome<void> flush(time_point deadline = no_deadline) {
        namespace dn = detail::nats;
        natsStatus s = natsConnection_FlushTimeout(
            conn_->nc, std::max<std::int64_t>(dn::ms_until(deadline), 1));
        if (s != NATS_OK)
            return dn::status_failure(s, "flush");
        return outcome<void>::success();
    }

    /// Drains: unsubscribes every subscription, lets queued messages be handled and running
    /// handlers finish, flushes publishes, then closes the connection (bounded by
    /// `drain_timeout`). Later calls fail with `errc::channel_closed`. Idempotent. Called from a
    /// handler, it starts the drain without waiting for it.
    void drain() { conn_->drain(); }

    /// True while connected (false while reconnecting, after drain or close).
    bool connected() const noexcept {
        return natsConnection_Status(conn_->nc) == NATS_CONN_STATUS_CONNECTED;
    }
    /// The URL of the server connected to ("" when not connected).
    std::string connected_url() const {
        char url[256] = {0};
        if (natsConnection_GetConnectedUrl(conn_->nc, url, sizeof url) != NATS_OK)
            return {};
        return url;
    }
    /// The cnats connection, for what bulwark does not wrap. Owned by the transport.
    natsConnection* native_handle() const noexcept { return conn_->nc; }

    /// Internal: the shared connection (JetStream contexts and subscriptions hold it).
    const std::shared_ptr<detail::nats::connection>& shared_connection() const noexcept {
        return conn_;
    }

    /// Copies a cnats message into a `received_message`.
    static received_message to_received(natsMsg* m) {
        received_message out;
        out.subject = natsMsg_GetSubject(m);
        detail::nats::get_headers(m, out.headers);
        const auto* d = reinterpret_cast<const std::byte*>(natsMsg_GetData(m));
        out.data.assign(d, d + natsMsg_GetDataLength(m));
        return out;
    }

private:
    static void check(natsStatus s, const char* what, void* closure_to_free = nullptr) {
        if (s == NATS_OK)
            return;
        delete static_cast<std::shared_ptr<detail::nats::conn_events>*>(closure_to_free);
        throw resilience_error(errc::invalid_argument,
                               std::string("bulwark::nats_transport: cnats refused ") + what +
                                   ": " + natsStatus_GetText(s));
    }

    std::shared_ptr<detail::nats::connection> conn_;
};

static_assert(message_transport<nats_transport>);

} // namespace bulwark
