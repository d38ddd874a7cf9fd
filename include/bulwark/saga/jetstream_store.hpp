#pragma once
/// \file
/// `jetstream_saga_store`: saga records in a JetStream key-value bucket (one key per saga).
/// Needs the optional target `bulwark::nats`.
///
/// A save reads the key, checks the saga's own revision (`saga_record::revision`), and writes
/// with the key's revision as the expected last subject sequence (`kvStore_Update`; `Create`
/// for a new saga). Guarantee per replication factor, as the event store's
/// (../shared/reference/consistency.md §1.1): exact on R1; on R3 with nats-server 2.9 the
/// server's check is not atomic, so saves of one saga are serialised inside the process
/// (striped locks), and two processes must not drive the same saga at once (route a saga's
/// messages to one process).

#include <bulwark/eventsource/jetstream_store.hpp> // detail::es helpers
#include <bulwark/saga/saga_store.hpp>
#include <bulwark/transport/nats.hpp>

#include <array>
#include <mutex>
#include <string>

namespace bulwark {

/// Settings of `jetstream_saga_store`.
struct jetstream_saga_store_options {
    std::string bucket = "BULWARK_SAGAS"; ///< key-value bucket (created if missing)
    int replicas = 1;
    duration api_timeout = std::chrono::seconds(5);
    writer_serialization serialize_writers = writer_serialization::automatic;

    void validate() const {
        constexpr std::string_view c = "jetstream_saga_store";
        detail::require(
            !bucket.empty() &&
                bucket.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789_-") == std::string::npos,
            c, "bucket", "non-empty, of [A-Za-z0-9_-]", bucket);
        detail::require(replicas >= 1 && replicas <= 5, c, "replicas", "in [1, 5]", replicas);
        detail::require(api_timeout > duration::zero(), c, "api_timeout", "> 0", api_timeout);
    }
};

/// A `saga_store` on a JetStream key-value bucket.
///
/// **Failure semantics:** a revision mismatch (or a lost race on the key) is a
/// `concurrency_conflict`; a server or connection failure is a `store_error`.
/// **Thread safety:** all members are thread-safe.
class jetstream_saga_store {
public:
    jetstream_saga_store(const nats_transport& transport, jetstream_saga_store_options o = {})
        : opts_((o.validate(), std::move(o)))
        , js_(transport, {.api_timeout = opts_.api_timeout})
        , kv_(detail::es::open_bucket(js_.native_handle(), opts_.bucket, opts_.replicas, 1)) {
        serialize_ =
            opts_.serialize_writers == writer_serialization::always ||
            (opts_.serialize_writers == writer_serialization::automatic && opts_.replicas > 1);
    }

    outcome<void> save(const saga_record& r) {
        std::unique_lock<std::mutex> writer;
        if (serialize_)
            writer = std::unique_lock(stripes_[std::hash<std::string>{}(r.id) % stripes_.size()]);
        const std::string key = detail::es::kv_key(r.id);
        kvEntry* e = nullptr;
        natsStatus s = kvStore_Get(&e, kv_.get(), key.c_str());
        detail::es::kv_entry_ptr entry(e);
        std::uint64_t kv_rev = 0, stored = 0;
        if (s == NATS_OK) {
            auto old = parse(e);
            if (!old)
                return make_store_error("bulwark::jetstream_saga_store: saga '" + r.id +
                                        "' has a damaged record");
            kv_rev = kvEntry_Revision(e);
            stored = old->revision;
        } else if (s != NATS_NOT_FOUND) {
            return detail::es::nats_error("saga get", s);
        }
        if (stored + 1 != r.revision)
            return detail::saga_conflict(r, stored);
        const std::string value = encode(r);
        std::uint64_t new_rev = 0;
        s = kv_rev == 0 ? kvStore_Create(&new_rev, kv_.get(), key.c_str(), value.data(),
                                         static_cast<int>(value.size()))
                        : kvStore_Update(&new_rev, kv_.get(), key.c_str(), value.data(),
                                         static_cast<int>(value.size()), kv_rev);
        if (s == NATS_OK)
            return outcome<void>::success();
        // A wrong-last-sequence answer: another writer saved this saga in between.
        auto again = load(r.id);
        if (again && *again && (*again)->revision >= r.revision)
            return detail::saga_conflict(r, (*again)->revision);
        return detail::es::nats_error("saga save", s);
    }

    outcome<std::optional<saga_record>> load(std::string_view id) {
        kvEntry* e = nullptr;
        natsStatus s = kvStore_Get(&e, kv_.get(), detail::es::kv_key(id).c_str());
        detail::es::kv_entry_ptr entry(e);
        if (s == NATS_NOT_FOUND)
            return std::optional<saga_record>{};
        if (s != NATS_OK)
            return detail::es::nats_error("saga get", s);
        auto r = parse(e);
        if (!r)
            return make_store_error("bulwark::jetstream_saga_store: saga '" + std::string(id) +
                                    "' has a damaged record");
        return std::optional<saga_record>{std::move(*r)};
    }

    /// Every saga in `status` (reads every key: meant for restarts and operators, not hot paths).
    outcome<std::vector<saga_record>> list(saga_status status) {
        std::vector<saga_record> out;
        kvKeysList keys{};
        kvWatchOptions wo;
        kvWatchOptions_Init(&wo);
        wo.Timeout = detail::nats::to_ms(opts_.api_timeout, 1);
        natsStatus s = kvStore_Keys(&keys, kv_.get(), &wo);
        if (s == NATS_NOT_FOUND)
            return out;
        if (s != NATS_OK)
            return detail::es::nats_error("saga keys", s);
        struct keys_guard {
            kvKeysList* k;
            ~keys_guard() { kvKeysList_Destroy(k); }
        } guard{&keys};
        for (int i = 0; i < keys.Count; ++i) {
            kvEntry* e = nullptr;
            if (kvStore_Get(&e, kv_.get(), keys.Keys[i]) != NATS_OK)
                continue; // deleted meanwhile
            detail::es::kv_entry_ptr entry(e);
            auto r = parse(e);
            if (r && r->status == status)
                out.push_back(std::move(*r));
        }
        std::sort(out.begin(), out.end(),
                  [](const saga_record& a, const saga_record& b) { return a.id < b.id; });
        return out;
    }

private:
    static std::string encode(const saga_record& r) {
        saga_data f{{"id", r.id},
                    {"name", r.name},
                    {"status", std::to_string(static_cast<int>(r.status))},
                    {"completed", std::to_string(r.completed_steps)},
                    {"failed", std::to_string(r.failed_step)},
                    {"error", r.error},
                    {"data", detail::encode_saga_data(r.data)},
                    {"deadline", std::to_string(r.deadline_ns)},
                    {"revision", std::to_string(r.revision)}};
        return detail::encode_saga_data(f);
    }
    static std::optional<saga_record> parse(kvEntry* e) {
        std::string_view in(static_cast<const char*>(kvEntry_Value(e)),
                            static_cast<std::size_t>(kvEntry_ValueLen(e)));
        auto f = detail::decode_saga_data(in);
        if (!f || !f->contains("id") || !f->contains("revision"))
            return std::nullopt;
        auto num = [&](const char* k) -> std::int64_t {
            auto it = f->find(k);
            std::int64_t v = 0;
            if (it != f->end())
                std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
            return v;
        };
        saga_record r;
        r.id = (*f)["id"];
        r.name = (*f)["name"];
        const auto st = num("status");
        if (st < 1 || st > 5)
            return std::nullopt;
        r.status = static_cast<saga_status>(st);
        r.completed_steps = static_cast<std::uint32_t>(num("completed"));
        r.failed_step = static_cast<std::uint32_t>(num("failed"));
        r.error = (*f)["error"];
        auto data = detail::decode_saga_data((*f)["data"]);
        if (!data)
            return std::nullopt;
        r.data = std::move(*data);
        r.deadline_ns = num("deadline");
        r.revision = static_cast<std::uint64_t>(num("revision"));
        return r;
    }

    jetstream_saga_store_options opts_;
    jetstream js_;
    detail::es::kv_ptr kv_;
    bool serialize_ = false;
    std::array<std::mutex, 64> stripes_;
};

static_assert(saga_store<jetstream_saga_store>);

} // namespace bulwark
