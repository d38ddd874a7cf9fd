#pragma once
/// \file
/// `jetstream_event_store`: the distributed event store on NATS JetStream (nats-server >= 2.9,
/// cnats 3.4). Needs the optional target `bulwark::nats`.
///
/// ```cpp
/// bulwark::nats_transport nats({.servers = {"nats://127.0.0.1:4222"}});
/// bulwark::jetstream_event_store store{nats, {.stream = "ORDERS_ES", .subject_prefix =
/// "es.orders"}}; store.append("order-7", events, 3);
/// ```
/// Layout: one JetStream stream (`stream`, subjects `<subject_prefix>.>`); one subject per event
/// stream id (`<subject_prefix>.<stream id>`); **one JetStream message per append** (its events
/// framed in the body), so an append of many events is all-or-nothing. Headers: `Nats-Msg-Id` =
/// the first event's id, `Bulwark-Version` = the version of its first event, `Bulwark-Count`.
/// Snapshots live in a key-value bucket `<stream>_SNAP`.
///
/// **Guarantee, per replication factor** (../shared/reference/consistency.md §1.1):
/// - **R1** (one server holds the stream): every append is published with
///   `Nats-Expected-Last-Subject-Sequence` = the stream sequence of the stream id's last append
///   (`ExpectNoMessage` for a new one). The server checks it under the stream's lock: any number
///   of writers in any number of processes, exactly one wins per version; the others get
///   `concurrency_conflict`.
/// - **R3 / R5 on nats-server 2.9:** the server's check is made against stored state only, so
///   two writers expecting the same sequence can both be stored (fixed in 2.11). This store
///   therefore **serialises writers per stream id inside the process** (`serialize_writers`:
///   automatic when `replicas > 1`) — one store object (one process) per writer set is then
///   safe. Writers in *different processes* on one stream id are **not** guaranteed on 2.9 R>1:
///   route an aggregate's commands to one process (a queue group keyed by aggregate), or use R1.
///   A double win that still happens is detected on read: `read` fails with `store_error`
///   ("two appends at version N") instead of returning a forked history.
/// - **Retries:** a retried append that had succeeded is recognised: within the duplicate window
///   by `Nats-Msg-Id` (a duplicate ack); after it, or when the server answers a retry with a
///   sequence error (as R>1 does on 2.9), by comparing the event ids stored after the expected
///   version with the ones given. Either way it returns `duplicate = true` and stores nothing.
/// - **Reads** come from the stream leader (an ordered consumer for the events, `STREAM.MSG.GET`
///   for the last append of a stream id), never from a lagging replica.

#include <bulwark/detail/enum_text.hpp>
#include <bulwark/detail/validate.hpp>
#include <bulwark/eventsource/event_store.hpp>
#include <bulwark/transport/nats.hpp>

#include <nats/nats.h>

#include <array>
#include <charconv>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bulwark {

/// Whether the store serialises its writers per stream id (see the file comment).
enum class writer_serialization {
    automatic, ///< when `replicas > 1` (nats-server 2.9 does not check R>1 appends atomically)
    always,
    never, ///< trust the server (R1, or nats-server >= 2.11)
};

/// The enumerator's name ("automatic", ...); "unknown" for a value outside the enum.
constexpr std::string_view to_string(writer_serialization v) noexcept {
    switch (v) {
    case writer_serialization::automatic:
        return "automatic";
    case writer_serialization::always:
        return "always";
    case writer_serialization::never:
        return "never";
    }
    return "unknown";
}

/// Settings of `jetstream_event_store`.
struct jetstream_event_store_options {
    std::string stream = "BULWARK_EVENTS"; ///< the JetStream stream (created if missing)
    std::string subject_prefix = "bulwark.events";
    int replicas = 1; ///< 1 (exact CAS on 2.9) or 3 / 5 (see the guarantee)
    stream_storage storage = stream_storage::file;
    /// Window in which the server drops a re-published append by its `Nats-Msg-Id`.
    duration duplicate_window = std::chrono::minutes(2);
    /// Time limit of each request to the server (publish ack, reads).
    duration api_timeout = std::chrono::seconds(5);
    writer_serialization serialize_writers = writer_serialization::automatic;

    void validate() const {
        constexpr std::string_view c = "jetstream_event_store";
        detail::require(!stream.empty() && stream.find_first_of(" .*>") == std::string::npos, c,
                        "stream", "non-empty, without spaces, '.', '*' or '>'", stream);
        detail::require(!subject_prefix.empty() &&
                            subject_prefix.find_first_of(" *>") == std::string::npos &&
                            subject_prefix.front() != '.' && subject_prefix.back() != '.',
                        c, "subject_prefix", "a subject without wildcards", subject_prefix);
        detail::require(replicas >= 1 && replicas <= 5, c, "replicas", "in [1, 5]", replicas);
        detail::require(api_timeout > duration::zero(), c, "api_timeout", "> 0", api_timeout);
    }
};

namespace detail::es {

inline void frame(std::string& out, std::string_view s) {
    out.append(std::to_string(s.size())).push_back(':');
    out.append(s);
}
inline bool unframe(std::string_view& in, std::string& out) {
    auto colon = in.find(':');
    if (colon == std::string_view::npos)
        return false;
    std::size_t n = 0;
    auto r = std::from_chars(in.data(), in.data() + colon, n);
    if (r.ec != std::errc{} || r.ptr != in.data() + colon || in.size() - colon - 1 < n)
        return false;
    out.assign(in.substr(colon + 1, n));
    in.remove_prefix(colon + 1 + n);
    return true;
}
inline std::uint64_t to_u64(const char* s) {
    std::uint64_t v = 0;
    if (s != nullptr)
        std::from_chars(s, s + std::char_traits<char>::length(s), v);
    return v;
}

/// A stream id as one or more subject tokens: no wildcard, no whitespace, no empty token.
inline bool valid_subject_tail(std::string_view id) {
    if (id.empty() || id.front() == '.' || id.back() == '.' || id.find("..") != id.npos)
        return false;
    for (char c : id)
        if (c == '*' || c == '>' || static_cast<unsigned char>(c) <= ' ' || c == 127)
            return false;
    return true;
}

/// A key-value key from any text: [-/_.a-zA-Z0-9] kept, every other byte as `=XX`.
inline std::string kv_key(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '/')
            out.push_back(static_cast<char>(c));
        else {
            out.push_back('=');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    return out;
}

struct kv_deleter {
    void operator()(kvStore* k) const noexcept { kvStore_Destroy(k); }
};
struct kv_entry_deleter {
    void operator()(kvEntry* e) const noexcept { kvEntry_Destroy(e); }
};
using kv_ptr = std::unique_ptr<kvStore, kv_deleter>;
using kv_entry_ptr = std::unique_ptr<kvEntry, kv_entry_deleter>;
struct sub_deleter {
    void operator()(natsSubscription* s) const noexcept {
        natsSubscription_Unsubscribe(s);
        natsSubscription_Destroy(s);
    }
};
using sub_ptr = std::unique_ptr<natsSubscription, sub_deleter>;

inline failure nats_error(std::string_view what, natsStatus s, int jerr = 0) {
    std::string text = "bulwark::jetstream_event_store: ";
    text.append(what).append(": ").append(natsStatus_GetText(s));
    if (jerr != 0)
        text.append(" (jetstream error ").append(std::to_string(jerr)).append(")");
    return make_store_error(text);
}

/// Opens (or creates) key-value bucket `name`.
inline kv_ptr open_bucket(jsCtx* js, const std::string& name, int replicas, std::uint8_t history) {
    kvStore* kv = nullptr;
    if (js_KeyValue(&kv, js, name.c_str()) == NATS_OK)
        return kv_ptr(kv);
    kvConfig cfg;
    kvConfig_Init(&cfg);
    cfg.Bucket = name.c_str();
    cfg.History = history;
    cfg.Replicas = replicas;
    cfg.StorageType = js_FileStorage;
    natsStatus s = js_CreateKeyValue(&kv, js, &cfg);
    if (s != NATS_OK && js_KeyValue(&kv, js, name.c_str()) != NATS_OK) // lost a creation race?
        nats_error("key-value bucket '" + name + "'", s).raise();
    return kv_ptr(kv);
}

} // namespace detail::es

/// An event store on JetStream (see the file comment for the layout and the guarantee).
///
/// **Failure semantics:** conflicts are `concurrency_conflict`; server or connection failures
/// are `store_error` (a publish whose ack timed out may still be stored: retry it with the same
/// event ids and the retry rules sort it out). Bad settings or an invalid stream id (a subject
/// token: no spaces, `*`, `>` or empty tokens) are `invalid_argument`.
/// **Thread safety:** all members are thread-safe.
/// **Allocation:** per append, the framed body and the message; reads allocate the events.
class jetstream_event_store {
public:
    static constexpr int wrong_last_sequence = 10071; ///< JSStreamWrongLastSequenceErr

    jetstream_event_store(const nats_transport& transport, jetstream_event_store_options o = {})
        : opts_((o.validate(), std::move(o)))
        , js_(transport, {.api_timeout = opts_.api_timeout}) {
        js_.declare_stream({.name = opts_.stream,
                            .subjects = {opts_.subject_prefix + ".>"},
                            .storage = opts_.storage,
                            .replicas = opts_.replicas,
                            .duplicate_window = opts_.duplicate_window})
            .value();
        snapshots_ =
            detail::es::open_bucket(js_.native_handle(), opts_.stream + "_SNAP", opts_.replicas, 1);
        serialize_ =
            opts_.serialize_writers == writer_serialization::always ||
            (opts_.serialize_writers == writer_serialization::automatic && opts_.replicas > 1);
    }

    const jetstream_event_store_options& options() const noexcept { return opts_; }
    /// True when appends to one stream id are serialised inside this store.
    bool serializes_writers() const noexcept { return serialize_; }

    outcome<append_result> append(std::string_view stream, std::span<const event_data> events,
                                  stream_version expected) {
        if (auto bad = detail::check_append_args(stream, events))
            return *bad;
        if (auto bad = check_id(stream))
            return *bad;
        if (events.size() > 65535)
            return failure{errc::invalid_argument,
                           std::make_exception_ptr(invalid_argument_error(
                               "bulwark::jetstream_event_store: more than 65535 events in one "
                               "append"))};
        std::unique_lock<std::mutex> writer;
        if (serialize_)
            writer =
                std::unique_lock(stripes_[std::hash<std::string_view>{}(stream) % stripes_.size()]);
        const std::string subject = subject_of(stream);
        auto state = cached(stream);
        bool from_cache = state.has_value();
        if (!state) {
            auto fresh = last_append(subject);
            if (!fresh)
                return fresh.error();
            state = *fresh;
        }
        for (int attempt = 0;; ++attempt) {
            const stream_version current = state->version;
            if (from_cache && expected != expected_version::any && expected != current) {
                // The cache may be behind (another process appended): ask the server.
                auto fresh = last_append(subject);
                if (!fresh)
                    return fresh.error();
                state = *fresh;
                from_cache = false;
                continue;
            }
            if (expected != expected_version::any && expected != current) {
                if (expected < current) {
                    if (!state->last_msg_id.empty() && state->last_msg_id != events.front().id &&
                        current - expected == events.size())
                        ; // the last append is someone else's and fills exactly our span: not ours
                    else if (auto dup = recognise_retry(stream, expected, events))
                        return *dup;
                }
                remember(stream, *state);
                return make_conflict(std::string(stream), expected, current);
            }
            if (expected == expected_version::any && current > 0)
                if (auto dup = recognise_retry_anywhere(stream, events))
                    return *dup;
            if (events.empty())
                return append_result{0, current, 0, false};
            std::string body;
            for (const auto& e : events) {
                detail::es::frame(body, e.id);
                detail::es::frame(body, e.type);
                detail::es::frame(body, e.payload);
                detail::es::frame(body, e.metadata);
            }
            natsMsg* raw = nullptr;
            natsStatus s = natsMsg_Create(&raw, subject.c_str(), nullptr, body.data(),
                                          static_cast<int>(body.size()));
            if (s != NATS_OK)
                return detail::es::nats_error("message", s);
            detail::nats::msg_ptr msg(raw);
            const std::string first = std::to_string(current + 1);
            const std::string count = std::to_string(events.size());
            natsMsgHeader_Set(raw, "Bulwark-Version", first.c_str());
            natsMsgHeader_Set(raw, "Bulwark-Count", count.c_str());
            jsPubOptions po;
            jsPubOptions_Init(&po);
            po.MaxWait = detail::nats::to_ms(opts_.api_timeout, 1);
            po.MsgId = events.front().id.c_str();
            if (state->seq == 0)
                po.ExpectNoMessage = true;
            else
                po.ExpectLastSubjectSeq = state->seq;
            jsPubAck* pa = nullptr;
            jsErrCode jerr{};
            s = js_PublishMsg(&pa, js_.native_handle(), raw, &po, &jerr);
            detail::nats::pub_ack_ptr ack(pa);
            if (s == NATS_OK && pa != nullptr) {
                if (pa->Duplicate) // our earlier publish of this append was stored
                    return duplicate_at(stream, pa->Sequence);
                tail t{pa->Sequence, current + events.size()};
                remember(stream, t);
                return append_result{current + 1, t.version,
                                     position(pa->Sequence, events.size() - 1), false};
            }
            forget(stream);
            if (static_cast<int>(jerr) != wrong_last_sequence || attempt >= 100)
                return detail::es::nats_error("append to '" + std::string(stream) + "'", s,
                                              static_cast<int>(jerr));
            // Another writer moved the stream id (or this is a retry the server saw as a
            // sequence error): look again, then decide.
            auto fresh = last_append(subject);
            if (!fresh)
                return fresh.error();
            state = *fresh;
            from_cache = false;
            if (state->last_msg_id == events.front().id)
                return duplicate_at(stream, state->seq);
            if (expected != expected_version::any && expected == state->version)
                continue; // the cached sequence was stale, the version still matches
        }
    }

    outcome<std::vector<recorded_event>> read(std::string_view stream, stream_version from) {
        if (auto bad = check_id(stream))
            return *bad;
        const std::string subject = subject_of(stream);
        auto last = last_append(subject);
        if (!last)
            return last.error();
        std::vector<recorded_event> out;
        if (last->seq == 0)
            return out;
        stream_version expect_next = 1;
        std::optional<failure> forked;
        auto scanned = scan(subject, 1, last->seq, [&](natsMsg* m, std::uint64_t seq) {
            const char* v = nullptr;
            natsMsgHeader_Get(m, "Bulwark-Version", &v);
            const stream_version first = detail::es::to_u64(v);
            if (first != expect_next) {
                forked = make_store_error(
                    "bulwark::jetstream_event_store: stream '" + std::string(stream) +
                    "' has two appends at version " + std::to_string(first) +
                    " (concurrent writers in different processes on a replicated stream, "
                    "nats-server 2.9)");
                return false;
            }
            auto before = out.size();
            if (!decode(m, seq, std::string(stream), first, out))
                forked = make_store_error("bulwark::jetstream_event_store: malformed append at "
                                          "sequence " +
                                          std::to_string(seq));
            expect_next = first + (out.size() - before);
            return !forked;
        });
        if (!scanned)
            return scanned.error();
        if (forked)
            return *forked;
        std::erase_if(out, [&](const recorded_event& e) { return e.version < from; });
        return out;
    }

    outcome<std::vector<recorded_event>> read_all(std::uint64_t after, std::size_t max) {
        std::vector<recorded_event> out;
        jsStreamInfo* si = nullptr;
        jsErrCode jerr{};
        natsStatus s =
            js_GetStreamInfo(&si, js_.native_handle(), opts_.stream.c_str(), nullptr, &jerr);
        if (s != NATS_OK)
            return detail::es::nats_error("stream info", s, static_cast<int>(jerr));
        detail::nats::stream_info_ptr info(si);
        const std::uint64_t last = si->State.LastSeq;
        const std::uint64_t start = std::max<std::uint64_t>(1, after >> 16);
        if (max == 0 || last < start)
            return out;
        const std::size_t prefix = opts_.subject_prefix.size() + 1;
        std::optional<failure> bad;
        auto scanned =
            scan(opts_.subject_prefix + ".>", start, last, [&](natsMsg* m, std::uint64_t seq) {
                const char* v = nullptr;
                natsMsgHeader_Get(m, "Bulwark-Version", &v);
                std::string stream = std::string(natsMsg_GetSubject(m)).substr(prefix);
                std::vector<recorded_event> batch;
                if (!decode(m, seq, stream, detail::es::to_u64(v), batch)) {
                    bad = make_store_error("bulwark::jetstream_event_store: malformed append at "
                                           "sequence " +
                                           std::to_string(seq));
                    return false;
                }
                for (auto& e : batch)
                    if (e.position > after && out.size() < max)
                        out.push_back(std::move(e));
                return out.size() < max;
            });
        if (!scanned)
            return scanned.error();
        if (bad)
            return *bad;
        return out;
    }

    outcome<stream_version> version(std::string_view stream) {
        if (auto bad = check_id(stream))
            return *bad;
        auto last = last_append(subject_of(stream));
        if (!last)
            return last.error();
        return last->version;
    }

    outcome<void> save_snapshot(const snapshot& snap) {
        const std::string key = detail::es::kv_key(snap.stream);
        std::string value;
        detail::es::frame(value, std::to_string(snap.version));
        detail::es::frame(value, snap.state);
        for (int attempt = 0; attempt < 20; ++attempt) {
            kvEntry* e = nullptr;
            natsStatus s = kvStore_Get(&e, snapshots_.get(), key.c_str());
            detail::es::kv_entry_ptr entry(e);
            std::uint64_t rev = 0;
            if (s == NATS_OK) {
                auto old = parse_snapshot(snap.stream, e);
                if (old && old->version > snap.version)
                    return outcome<void>::success(); // never replace a newer snapshot
                rev = kvEntry_Revision(e);
            } else if (s != NATS_NOT_FOUND) {
                return detail::es::nats_error("snapshot get", s);
            }
            std::uint64_t new_rev = 0;
            s = rev == 0 ? kvStore_Create(&new_rev, snapshots_.get(), key.c_str(), value.data(),
                                          static_cast<int>(value.size()))
                         : kvStore_Update(&new_rev, snapshots_.get(), key.c_str(), value.data(),
                                          static_cast<int>(value.size()), rev);
            if (s == NATS_OK)
                return outcome<void>::success();
            // Lost a race with another snapshot writer: look again.
        }
        return make_store_error("bulwark::jetstream_event_store: snapshot of '" + snap.stream +
                                "' kept losing races");
    }

    outcome<std::optional<snapshot>> load_snapshot(std::string_view stream) {
        kvEntry* e = nullptr;
        natsStatus s = kvStore_Get(&e, snapshots_.get(), detail::es::kv_key(stream).c_str());
        detail::es::kv_entry_ptr entry(e);
        if (s == NATS_NOT_FOUND)
            return std::optional<snapshot>{};
        if (s != NATS_OK)
            return detail::es::nats_error("snapshot get", s);
        return parse_snapshot(stream, e);
    }

private:
    struct tail {
        std::uint64_t seq = 0;      ///< stream sequence of the id's last append (0: none)
        stream_version version = 0; ///< version of its last event
        std::string last_msg_id{};  ///< that append's Nats-Msg-Id (when fetched)
    };

    static std::uint64_t position(std::uint64_t seq, std::size_t index) noexcept {
        return (seq << 16) | index;
    }

    std::optional<failure> check_id(std::string_view stream) const {
        if (detail::es::valid_subject_tail(stream))
            return std::nullopt;
        return failure{errc::invalid_argument,
                       std::make_exception_ptr(invalid_argument_error(
                           "bulwark::jetstream_event_store: stream id '" + std::string(stream) +
                           "' is not a subject token (no spaces, '*', '>' or empty tokens)"))};
    }

    std::string subject_of(std::string_view stream) const {
        return opts_.subject_prefix + "." + std::string(stream);
    }

    std::optional<tail> cached(std::string_view stream) {
        std::lock_guard lock(cache_mutex_);
        auto it = cache_.find(stream);
        if (it == cache_.end())
            return std::nullopt;
        return it->second;
    }
    void remember(std::string_view stream, const tail& t) {
        std::lock_guard lock(cache_mutex_);
        if (cache_.size() > 100000)
            cache_.clear(); // a cache, not a registry: bounded
        cache_[std::string(stream)] = tail{t.seq, t.version, {}};
    }
    void forget(std::string_view stream) {
        std::lock_guard lock(cache_mutex_);
        if (auto it = cache_.find(stream); it != cache_.end())
            cache_.erase(it);
    }

    /// The last append on `subject`, from the stream leader.
    outcome<tail> last_append(const std::string& subject) {
        natsMsg* raw = nullptr;
        jsErrCode jerr{};
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.Wait = detail::nats::to_ms(opts_.api_timeout, 1);
        natsStatus s = js_GetLastMsg(&raw, js_.native_handle(), opts_.stream.c_str(),
                                     subject.c_str(), &jo, &jerr);
        detail::nats::msg_ptr msg(raw);
        if (s == NATS_NOT_FOUND)
            return tail{};
        if (s != NATS_OK)
            return detail::es::nats_error("last append of '" + subject + "'", s,
                                          static_cast<int>(jerr));
        const char* v = nullptr;
        const char* n = nullptr;
        const char* id = nullptr;
        natsMsgHeader_Get(raw, "Bulwark-Version", &v);
        natsMsgHeader_Get(raw, "Bulwark-Count", &n);
        natsMsgHeader_Get(raw, "Nats-Msg-Id", &id);
        return tail{natsMsg_GetSequence(raw), detail::es::to_u64(v) + detail::es::to_u64(n) - 1,
                    id ? id : ""};
    }

    /// Reads `filter` from `start` to `last` (stream sequences) through an ordered consumer;
    /// `f(msg, seq)` returns false to stop.
    template <class F>
    outcome<void> scan(const std::string& filter, std::uint64_t start, std::uint64_t last, F&& f) {
        jsSubOptions so;
        jsSubOptions_Init(&so);
        so.Stream = opts_.stream.c_str();
        so.Ordered = true;
        so.Config.DeliverPolicy = start <= 1 ? js_DeliverAll : js_DeliverByStartSequence;
        so.Config.OptStartSeq = start <= 1 ? 0 : start;
        natsSubscription* raw = nullptr;
        jsErrCode jerr{};
        natsStatus s =
            js_SubscribeSync(&raw, js_.native_handle(), filter.c_str(), nullptr, &so, &jerr);
        if (s != NATS_OK)
            return detail::es::nats_error("read '" + filter + "'", s, static_cast<int>(jerr));
        detail::es::sub_ptr sub(raw);
        const auto wait = detail::nats::to_ms(opts_.api_timeout, 1);
        for (;;) {
            natsMsg* m = nullptr;
            s = natsSubscription_NextMsg(&m, raw, wait);
            if (s != NATS_OK)
                return detail::es::nats_error("read '" + filter + "'", s);
            detail::nats::msg_ptr msg(m);
            jsMsgMetaData* meta = nullptr;
            if (natsMsg_GetMetaData(&meta, m) != NATS_OK)
                continue;
            detail::nats::meta_ptr md(meta);
            const std::uint64_t seq = meta->Sequence.Stream;
            if (!f(m, seq) || seq >= last)
                return outcome<void>::success();
        }
    }

    /// Appends the events framed in `m` (stream sequence `seq`) to `out`.
    static bool decode(natsMsg* m, std::uint64_t seq, const std::string& stream,
                       stream_version first, std::vector<recorded_event>& out) {
        std::string_view in(natsMsg_GetData(m), static_cast<std::size_t>(natsMsg_GetDataLength(m)));
        std::size_t i = 0;
        while (!in.empty()) {
            recorded_event e;
            e.stream = stream;
            e.version = first + i;
            e.position = position(seq, i);
            if (!detail::es::unframe(in, e.id) || !detail::es::unframe(in, e.type) ||
                !detail::es::unframe(in, e.payload) || !detail::es::unframe(in, e.metadata))
                return false;
            out.push_back(std::move(e));
            ++i;
        }
        return true;
    }

    /// `expected < current`: are the events stored after `expected` these very events?
    std::optional<outcome<append_result>> recognise_retry(std::string_view stream,
                                                          stream_version expected,
                                                          std::span<const event_data> events) {
        auto stored = read(stream, expected + 1);
        if (!stored)
            return outcome<append_result>(stored.error());
        std::vector<std::string> ids;
        for (std::size_t i = 0; i < stored->size() && i < events.size(); ++i)
            ids.push_back((*stored)[i].id);
        if (!detail::is_retry_of(ids, events))
            return std::nullopt;
        const auto& last = (*stored)[events.size() - 1];
        return outcome<append_result>(
            append_result{expected + 1, last.version, last.position, true});
    }
    std::optional<outcome<append_result>>
    recognise_retry_anywhere(std::string_view stream, std::span<const event_data> events) {
        auto stored = read(stream, 1);
        if (!stored)
            return outcome<append_result>(stored.error());
        for (std::size_t i = 0; i < stored->size(); ++i)
            if ((*stored)[i].id == events.front().id) {
                std::vector<std::string> ids;
                for (std::size_t j = i; j < stored->size() && ids.size() < events.size(); ++j)
                    ids.push_back((*stored)[j].id);
                if (!detail::is_retry_of(ids, events))
                    return outcome<append_result>(make_conflict(
                        std::string(stream), expected_version::any, stored->back().version));
                const auto& last = (*stored)[i + events.size() - 1];
                return outcome<append_result>(
                    append_result{i + 1, last.version, last.position, true});
            }
        return std::nullopt;
    }

    outcome<append_result> duplicate_at(std::string_view stream, std::uint64_t seq) {
        natsMsg* raw = nullptr;
        jsErrCode jerr{};
        natsStatus s =
            js_GetMsg(&raw, js_.native_handle(), opts_.stream.c_str(), seq, nullptr, &jerr);
        detail::nats::msg_ptr msg(raw);
        if (s != NATS_OK)
            return detail::es::nats_error("duplicate lookup", s, static_cast<int>(jerr));
        const char* v = nullptr;
        const char* n = nullptr;
        natsMsgHeader_Get(raw, "Bulwark-Version", &v);
        natsMsgHeader_Get(raw, "Bulwark-Count", &n);
        const auto first = detail::es::to_u64(v);
        const auto count = detail::es::to_u64(n);
        forget(stream);
        return append_result{first, first + count - 1, position(seq, count - 1), true};
    }

    static std::optional<snapshot> parse_snapshot(std::string_view stream, kvEntry* e) {
        std::string_view in(static_cast<const char*>(kvEntry_Value(e)),
                            static_cast<std::size_t>(kvEntry_ValueLen(e)));
        std::string v, state;
        if (!detail::es::unframe(in, v) || !detail::es::unframe(in, state))
            return std::nullopt;
        return snapshot{std::string(stream), detail::es::to_u64(v.c_str()), std::move(state)};
    }

    jetstream_event_store_options opts_;
    jetstream js_;
    detail::es::kv_ptr snapshots_;
    bool serialize_ = false;
    std::array<std::mutex, 64> stripes_;
    std::mutex cache_mutex_;
    std::map<std::string, tail, std::less<>> cache_;
};

static_assert(event_store<jetstream_event_store>);

} // namespace bulwark
