#pragma once
/// \file
/// `jetstream`: JetStream over a `nats_transport` — streams and durable pull consumers declared
/// from C++ (idempotently), publish with `Nats-Msg-Id` and a publish ack, and an asynchronous
/// publish path with a bounded number of publishes in flight.

#include <bulwark/core/error.hpp>
#include <bulwark/core/headers.hpp>
#include <bulwark/core/outcome.hpp>
#include <bulwark/core/time.hpp>
#include <bulwark/detail/enum_text.hpp>
#include <bulwark/detail/validate.hpp>
#include <bulwark/transport/nats/status.hpp>
#include <bulwark/transport/nats/transport.hpp>

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bulwark {

/// The header JetStream de-duplicates publishes by, within the stream's duplicate window.
inline constexpr std::string_view nats_msg_id_header = "Nats-Msg-Id";

/// Where a stream keeps its messages.
enum class stream_storage : unsigned char { file, memory };

/// The enumerator's name ("file", ...); "unknown" for a value outside the enum.
constexpr std::string_view to_string(stream_storage v) noexcept {
    switch (v) {
    case stream_storage::file:
        return "file";
    case stream_storage::memory:
        return "memory";
    }
    return "unknown";
}
/// When a stream drops messages: by limits (age, count, bytes), once every consumer acked
/// (interest), or once one consumer acked (work queue).
enum class stream_retention : unsigned char { limits, interest, work_queue };

/// The enumerator's name ("limits", ...); "unknown" for a value outside the enum.
constexpr std::string_view to_string(stream_retention v) noexcept {
    switch (v) {
    case stream_retention::limits:
        return "limits";
    case stream_retention::interest:
        return "interest";
    case stream_retention::work_queue:
        return "work_queue";
    }
    return "unknown";
}

/// A stream's configuration (`jsStreamConfig`). Fields left at their defaults are the server's.
struct stream_config {
    std::string name{};
    std::vector<std::string> subjects{};
    stream_storage storage = stream_storage::file;
    stream_retention retention = stream_retention::limits;
    int replicas = 1; ///< 1, 3 or 5 in a cluster (R3: survives one node)
    /// Publishes with the same `Nats-Msg-Id` within this window are stored once.
    duration duplicate_window = std::chrono::minutes(2);
    std::int64_t max_messages = -1; ///< -1 = unlimited
    std::int64_t max_bytes = -1;    ///< -1 = unlimited
    duration max_age{};             ///< 0 = unlimited

    void validate() const {
        constexpr std::string_view c = "jetstream stream_config";
        detail::require(!name.empty() && name.find_first_of(" .*>") == std::string::npos, c, "name",
                        "non-empty, without spaces, '.', '*' or '>'", name);
        detail::require(!subjects.empty(), c, "subjects", "a non-empty list", std::size_t{0});
        detail::require(replicas >= 1 && replicas <= 5, c, "replicas", "in [1, 5]", replicas);
        detail::require(duplicate_window >= duration::zero(), c, "duplicate_window", ">= 0",
                        std::chrono::duration_cast<std::chrono::milliseconds>(duplicate_window));
        detail::require(max_age >= duration::zero(), c, "max_age", ">= 0",
                        std::chrono::duration_cast<std::chrono::milliseconds>(max_age));
        detail::require(max_messages >= -1, c, "max_messages", ">= -1", max_messages);
        detail::require(max_bytes >= -1, c, "max_bytes", ">= -1", max_bytes);
    }
};

/// A durable pull consumer's configuration (`jsConsumerConfig`, explicit acks).
struct consumer_config {
    std::string stream{};
    std::string durable{};
    std::string filter_subject{}; ///< empty = every subject of the stream
    /// How long a delivery may stay unacknowledged before the server redelivers it (a handler
    /// that runs longer calls `jetstream_control::in_progress`).
    duration ack_wait = std::chrono::seconds(30);
    /// Deliveries before bulwark dead-letters the message (the server is told one more, so that
    /// a consumer that died on the last delivery still gets to dead-letter it).
    std::uint32_t max_deliveries = 5;
    /// Deliveries in flight (unacknowledged) at once, over all workers.
    std::int64_t max_ack_pending = 1000;

    void validate() const {
        constexpr std::string_view c = "jetstream consumer_config";
        detail::require(!stream.empty(), c, "stream", "non-empty", stream);
        detail::require(!durable.empty() && durable.find_first_of(" .*>") == std::string::npos, c,
                        "durable", "non-empty, without spaces, '.', '*' or '>'", durable);
        detail::require(ack_wait >= std::chrono::milliseconds(1), c, "ack_wait", ">= 1ms",
                        std::chrono::duration_cast<std::chrono::milliseconds>(ack_wait));
        detail::require(max_deliveries >= 1 && max_deliveries < INT_MAX, c, "max_deliveries",
                        ">= 1", max_deliveries);
        detail::require(max_ack_pending >= 1, c, "max_ack_pending", ">= 1", max_ack_pending);
    }
};

/// The server's acknowledgement of a JetStream publish.
struct publish_ack {
    std::string stream{};
    std::uint64_t sequence = 0;
    bool duplicate = false; ///< the `Nats-Msg-Id` was seen within the window: stored once
};

/// The result of one asynchronous publish, as `jetstream_options::on_async_result` gets it.
struct async_publish_result {
    std::string_view subject;
    std::string_view msg_id; ///< the `Nats-Msg-Id` ("" when none)
    bool ok = false;
    std::uint64_t sequence = 0;
    bool duplicate = false;
    std::string_view error; ///< when `!ok`: the server's or cnats' text
};

/// Settings of a `jetstream` context.
struct jetstream_options {
    /// Timeout of JetStream API calls (declarations) and of a synchronous publish's ack.
    duration api_timeout = std::chrono::seconds(5);
    /// Asynchronous publishes awaiting their ack at once; `publish_async` waits up to
    /// `stall_wait` for room, then fails with `errc::queue_full`.
    std::int64_t max_async_in_flight = 4096;
    duration stall_wait = std::chrono::milliseconds(200);
    /// Called for each asynchronous publish's ack or error, on a cnats thread, never under a
    /// lock of bulwark's. Optional: counts are kept anyway.
    std::function<void(const async_publish_result&)> on_async_result{};

    void validate() const {
        constexpr std::string_view c = "jetstream";
        detail::require(api_timeout >= std::chrono::milliseconds(1), c, "api_timeout", ">= 1ms",
                        std::chrono::duration_cast<std::chrono::milliseconds>(api_timeout));
        detail::require(max_async_in_flight >= 1, c, "max_async_in_flight", ">= 1",
                        max_async_in_flight);
        detail::require(stall_wait >= std::chrono::milliseconds(1), c, "stall_wait", ">= 1ms",
                        std::chrono::duration_cast<std::chrono::milliseconds>(stall_wait));
    }
};

namespace detail::nats {

/// What the async-publish ack handler needs; cnats holds a raw pointer, the connection keeps
/// it alive (`connection::keep_alive`) until cnats is done with it.
struct async_state {
    std::function<void(const async_publish_result&)> on_result;
    std::atomic<std::uint64_t> acked{0}, duplicates{0}, failed{0};

    static void on_ack(jsCtx*, natsMsg* raw, jsPubAck* pa, jsPubAckErr* pae, void* c) {
        msg_ptr m(raw); // with an AckHandler, the handler owns the message
        auto& self = *static_cast<async_state*>(c);
        if (pa != nullptr) {
            self.acked.fetch_add(1, std::memory_order_relaxed);
            if (pa->Duplicate)
                self.duplicates.fetch_add(1, std::memory_order_relaxed);
        } else {
            self.failed.fetch_add(1, std::memory_order_relaxed);
        }
        if (!self.on_result)
            return; // counting only: no header parsing on the ack path
        async_publish_result r;
        r.subject = natsMsg_GetSubject(m.get());
        const char* id = nullptr;
        if (natsMsgHeader_Get(m.get(), "Nats-Msg-Id", &id) == NATS_OK && id != nullptr)
            r.msg_id = id;
        if (pa != nullptr) {
            r.ok = true;
            r.sequence = pa->Sequence;
            r.duplicate = pa->Duplicate;
        } else {
            r.error = pae && pae->ErrText ? pae->ErrText
                                          : (pae ? natsStatus_GetText(pae->Err) : "unknown");
        }
        try {
            self.on_result(r);
        } catch (...) { // never unwind into cnats
        }
    }
};

inline jsStorageType to_native(stream_storage s) noexcept {
    return s == stream_storage::memory ? js_MemoryStorage : js_FileStorage;
}
inline jsRetentionPolicy to_native(stream_retention r) noexcept {
    switch (r) {
    case stream_retention::interest:
        return js_InterestPolicy;
    case stream_retention::work_queue:
        return js_WorkQueuePolicy;
    default:
        return js_LimitsPolicy;
    }
}

/// The differences between what we asked for and what the server has ("" when equal).
inline std::string stream_diff(const jsStreamConfig& want, const jsStreamConfig& have) {
    std::string d{};
    auto add = [&](const char* f, const std::string& w, const std::string& h) {
        if (w != h)
            d.append(d.empty() ? "" : ", ")
                .append(f)
                .append(" ")
                .append(h)
                .append(" (declared: " + w + ")");
    };
    auto subjects = [](const jsStreamConfig& c) {
        std::string s = "[";
        for (int i = 0; i < c.SubjectsLen; ++i)
            s.append(i ? ", " : "").append(c.Subjects[i]);
        return s + "]";
    };
    add("subjects", subjects(want), subjects(have));
    add("storage", std::to_string(want.Storage), std::to_string(have.Storage));
    add("retention", std::to_string(want.Retention), std::to_string(have.Retention));
    add("replicas", std::to_string(want.Replicas), std::to_string(have.Replicas));
    add("duplicate_window_ns", std::to_string(want.Duplicates), std::to_string(have.Duplicates));
    add("max_messages", std::to_string(want.MaxMsgs), std::to_string(have.MaxMsgs));
    add("max_bytes", std::to_string(want.MaxBytes), std::to_string(have.MaxBytes));
    add("max_age_ns", std::to_string(want.MaxAge), std::to_string(have.MaxAge));
    return d;
}

inline std::string consumer_diff(const jsConsumerConfig& want, const jsConsumerConfig& have) {
    std::string d{};
    auto add = [&](const char* f, const std::string& w, const std::string& h) {
        if (w != h)
            d.append(d.empty() ? "" : ", ")
                .append(f)
                .append(" ")
                .append(h)
                .append(" (declared: " + w + ")");
    };
    auto str = [](const char* s) { return std::string(s ? s : ""); };
    add("filter_subject", str(want.FilterSubject), str(have.FilterSubject));
    add("ack_wait_ns", std::to_string(want.AckWait), std::to_string(have.AckWait));
    add("max_deliver", std::to_string(want.MaxDeliver), std::to_string(have.MaxDeliver));
    add("max_ack_pending", std::to_string(want.MaxAckPending), std::to_string(have.MaxAckPending));
    add("ack_policy", std::to_string(want.AckPolicy), std::to_string(have.AckPolicy));
    return d;
}

/// Fills `cfg` from `c` (pointers into `c` and `subjects`).
inline void fill(jsConsumerConfig& cfg, const consumer_config& c) {
    jsConsumerConfig_Init(&cfg);
    cfg.Durable = c.durable.c_str();
    cfg.AckPolicy = js_AckExplicit;
    cfg.AckWait = to_ns(c.ack_wait);
    cfg.MaxDeliver = static_cast<std::int64_t>(c.max_deliveries) + 1;
    cfg.MaxAckPending = c.max_ack_pending;
    cfg.FilterSubject = c.filter_subject.empty() ? nullptr : c.filter_subject.c_str();
    cfg.DeliverPolicy = js_DeliverAll;
}

} // namespace detail::nats

/// A JetStream context on a `nats_transport`'s connection.
///
/// ```cpp
/// bulwark::jetstream js(nats);
/// js.declare_stream({.name = "ORDERS", .subjects = {"orders.>"}}).value();
/// auto ack = js.publish("orders.created", headers, bytes);   // outcome<publish_ack>
/// ```
///
/// **Failure semantics:** every call returns failures as values with a text naming the call and
/// the server's reason; a declaration that conflicts with what exists is
/// `errc::invalid_argument` listing the differing fields. A publish whose ack does not come
/// within `api_timeout` is `errc::timeout` — it may still be stored (cnats' reconnect buffer
/// sends it later): publish it again with the same message id and the server stores it once.
/// **Thread safety:** all members from any thread.
class jetstream {
public:
    explicit jetstream(const nats_transport& transport, jetstream_options o = {})
        : conn_(transport.shared_connection())
        , async_(std::make_shared<detail::nats::async_state>()) {
        o.validate();
        async_->on_result = std::move(o.on_async_result);
        api_timeout_ = o.api_timeout;
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.Wait = detail::nats::to_ms(o.api_timeout, 1);
        jo.PublishAsync.MaxPending = o.max_async_in_flight;
        jo.PublishAsync.StallWait = detail::nats::to_ms(o.stall_wait, 1);
        jo.PublishAsync.AckHandler = &detail::nats::async_state::on_ack;
        jo.PublishAsync.AckHandlerClosure = async_.get();
        natsStatus s = natsConnection_JetStream(&js_, conn_->nc, &jo);
        if (s != NATS_OK)
            detail::nats::status_failure(s, "jetstream context").raise();
        std::lock_guard lock(conn_->keep_mutex);
        conn_->keep_alive.push_back(async_); // cnats may call on_ack until the connection closes
    }
    jetstream(const jetstream&) = delete;
    jetstream& operator=(const jetstream&) = delete;
    ~jetstream() {
        if (js_ == nullptr)
            return;
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = detail::nats::to_ms(api_timeout_, 1);
        js_PublishAsyncComplete(js_, &po); // bounded: acks still due are waited for, not lost
        jsCtx_Destroy(js_);
    }

    /// Creates stream `c`, or accepts an identical existing one; a different existing one is
    /// `errc::invalid_argument` naming the differences (change it with the NATS CLI or delete
    /// it: bulwark never rewrites a stream silently).
    outcome<void> declare_stream(const stream_config& c) {
        namespace dn = detail::nats;
        c.validate();
        std::vector<const char*> subjects;
        for (const auto& s : c.subjects)
            subjects.push_back(s.c_str());
        jsStreamConfig cfg;
        jsStreamConfig_Init(&cfg);
        cfg.Name = c.name.c_str();
        cfg.Subjects = subjects.data();
        cfg.SubjectsLen = static_cast<int>(subjects.size());
        cfg.Storage = dn::to_native(c.storage);
        cfg.Retention = dn::to_native(c.retention);
        cfg.Replicas = c.replicas;
        cfg.Duplicates = dn::to_ns(c.duplicate_window);
        cfg.MaxMsgs = c.max_messages;
        cfg.MaxBytes = c.max_bytes;
        cfg.MaxAge = dn::to_ns(c.max_age);
        jsErrCode jerr{};
        jsStreamInfo* si = nullptr; // js_AddStream leaves it untouched on failure
        natsStatus s = js_AddStream(&si, js_, &cfg, nullptr, &jerr);
        dn::stream_info_ptr info(si);
        if (s == NATS_OK)
            return outcome<void>::success();
        if (jerr == JSStreamNameExistErr) {
            jsStreamInfo* have = nullptr;
            jsErrCode e2{};
            if (js_GetStreamInfo(&have, js_, c.name.c_str(), nullptr, &e2) == NATS_OK) {
                dn::stream_info_ptr h(have);
                return dn::make_failure(errc::invalid_argument,
                                        "bulwark::jetstream: stream '" + c.name +
                                            "' exists with a different configuration: " +
                                            dn::stream_diff(cfg, *have->Config));
            }
        }
        return dn::status_failure(s, "declare stream '" + c.name + "'", jerr);
    }

    /// Creates durable pull consumer `c`, or accepts an identical existing one; a different one
    /// is `errc::invalid_argument` naming the differences.
    outcome<void> declare_consumer(const consumer_config& c) {
        namespace dn = detail::nats;
        c.validate();
        jsConsumerConfig cfg;
        dn::fill(cfg, c);
        jsErrCode jerr{};
        jsConsumerInfo* existing = nullptr;
        if (js_GetConsumerInfo(&existing, js_, c.stream.c_str(), c.durable.c_str(), nullptr,
                               &jerr) == NATS_OK) {
            dn::consumer_info_ptr h(existing);
            auto diff = dn::consumer_diff(cfg, *existing->Config);
            if (diff.empty())
                return outcome<void>::success();
            return dn::make_failure(errc::invalid_argument,
                                    "bulwark::jetstream: consumer '" + c.durable + "' on '" +
                                        c.stream +
                                        "' exists with a different configuration: " + diff);
        }
        jsConsumerInfo* ci = nullptr;
        jerr = {};
        natsStatus s = js_AddConsumer(&ci, js_, c.stream.c_str(), &cfg, nullptr, &jerr);
        dn::consumer_info_ptr info(ci);
        if (s != NATS_OK)
            return dn::status_failure(
                s, "declare consumer '" + c.durable + "' on '" + c.stream + "'", jerr);
        return outcome<void>::success();
    }

    /// Deletes a stream (tests, tooling). Missing is `errc::transport_error` (NOT_FOUND).
    outcome<void> delete_stream(const std::string& name) {
        jsErrCode jerr{};
        natsStatus s = js_DeleteStream(js_, name.c_str(), nullptr, &jerr);
        if (s != NATS_OK)
            return detail::nats::status_failure(s, "delete stream '" + name + "'", jerr);
        return outcome<void>::success();
    }

    /// Publishes and waits for the stream's ack. The `message-id` header (the envelope's id), if
    /// present, becomes `Nats-Msg-Id`, so a retry of this publish is stored once.
    /// `errc::no_responders` when no stream captures `subject` (or, in a cluster, while a
    /// stream leader is being elected: retry after a backoff).
    outcome<publish_ack> publish(std::string_view subject, const header_map& headers,
                                 std::span<const std::byte> data) {
        namespace dn = detail::nats;
        dn::msg_ptr m;
        natsStatus s = make(m, subject, headers, data);
        if (s != NATS_OK)
            return dn::status_failure(s, "jetstream publish to '" + std::string(subject) + "'");
        jsPubAck* pa = nullptr;
        jsErrCode jerr{};
        s = js_PublishMsg(&pa, js_, m.get(), nullptr, &jerr);
        dn::pub_ack_ptr ack(pa);
        if (s != NATS_OK)
            return dn::status_failure(s, "jetstream publish to '" + std::string(subject) + "'",
                                      jerr);
        return publish_ack{pa->Stream ? pa->Stream : "", pa->Sequence, pa->Duplicate};
    }

    /// Publishes without waiting for the ack; the ack (or error) arrives later through
    /// `on_async_result` and the counters. At most `max_async_in_flight` publishes wait for
    /// acks: beyond that the call waits up to `stall_wait`, then fails with
    /// `errc::queue_full` (back-pressure, never an unbounded buffer).
    outcome<void> publish_async(std::string_view subject, const header_map& headers,
                                std::span<const std::byte> data) {
        namespace dn = detail::nats;
        dn::msg_ptr m;
        natsStatus s = make(m, subject, headers, data);
        if (s == NATS_OK) {
            natsMsg* raw = m.release();
            s = js_PublishMsgAsync(js_, &raw, nullptr); // takes the message on success
            m.reset(raw);
        }
        if (s == NATS_TIMEOUT)
            return dn::make_failure(
                errc::queue_full, "bulwark::jetstream: publish_async to '" + std::string(subject) +
                                      "': max_async_in_flight publishes await acks");
        if (s != NATS_OK)
            return dn::status_failure(s,
                                      "jetstream publish_async to '" + std::string(subject) + "'");
        return outcome<void>::success();
    }

    /// Waits until every asynchronous publish has its ack or error, until `deadline`.
    outcome<void> wait_async(time_point deadline = no_deadline) {
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = std::max<std::int64_t>(detail::nats::ms_until(deadline), 1);
        natsStatus s = js_PublishAsyncComplete(js_, &po);
        if (s != NATS_OK)
            return detail::nats::status_failure(s, "jetstream wait_async");
        return outcome<void>::success();
    }
    /// Asynchronous publishes acknowledged / of those, duplicates / failed, so far.
    std::uint64_t async_acked() const noexcept { return async_->acked.load(); }
    std::uint64_t async_duplicates() const noexcept { return async_->duplicates.load(); }
    std::uint64_t async_failed() const noexcept { return async_->failed.load(); }

    /// The cnats context, for what bulwark does not wrap.
    jsCtx* native_handle() const noexcept { return js_; }
    /// Internal: the shared connection.
    const std::shared_ptr<detail::nats::connection>& shared_connection() const noexcept {
        return conn_;
    }
    duration api_timeout() const noexcept { return api_timeout_; }

private:
    /// The message to store: the `message-id` header travels as `Nats-Msg-Id` (one header, not
    /// two: the consumer puts `message-id` back before a handler sees the headers).
    static natsStatus make(detail::nats::msg_ptr& m, std::string_view subject,
                           const header_map& headers, std::span<const std::byte> data) {
        namespace dn = detail::nats;
        if (data.size() > static_cast<std::size_t>(INT_MAX))
            return NATS_INVALID_ARG;
        natsMsg* raw = nullptr;
        natsStatus s = natsMsg_Create(&raw, dn::c_str(subject).get(), nullptr,
                                      reinterpret_cast<const char*>(data.data()),
                                      static_cast<int>(data.size()));
        if (s != NATS_OK)
            return s;
        m.reset(raw);
        const bool has_nats_id = headers.contains(nats_msg_id_header);
        headers.for_each([&](std::string_view k, std::string_view v) {
            if (s != NATS_OK)
                return;
            if (!has_nats_id && k.size() == header::message_id.size() &&
                headers.get(header::message_id) == v && is_message_id(k))
                s = natsMsgHeader_Set(raw, "Nats-Msg-Id", dn::c_str(v).get());
            else
                s = natsMsgHeader_Set(raw, dn::c_str(k).get(), dn::c_str(v).get());
        });
        return s;
    }
    static bool is_message_id(std::string_view k) noexcept {
        for (std::size_t i = 0; i < k.size(); ++i)
            if ((k[i] | 0x20) != (header::message_id[i] | 0x20))
                return false;
        return true;
    }

    std::shared_ptr<detail::nats::connection> conn_;
    std::shared_ptr<detail::nats::async_state> async_;
    jsCtx* js_ = nullptr;
    duration api_timeout_{};
};

} // namespace bulwark
