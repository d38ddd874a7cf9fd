#pragma once
/// \file
/// Service discovery over a NATS JetStream key-value bucket.
///
/// Services register `{address, weight, zone, metadata}` under a key of the bucket and keep it
/// alive with a heartbeat (`nats_kv_registration`); clients watch the bucket
/// (`nats_kv_discovery`, a `discovery_source`) and push the live set into a registry on every
/// join, leave (key deleted) or expiry (no heartbeat within `ttl`).
///
/// ```cpp
/// bulwark::nats_transport nats({.servers = {url}});
/// bulwark::nats_kv_registration me(nats.native_handle(), {.address = "10.0.0.7:8080"});
/// bulwark::nats_kv_discovery users(nats.native_handle());
/// bulwark::registry reg;
/// reg.attach(users);
/// ```
/// JetStream removes an entry older than the bucket's max age without telling watchers (no
/// delete marker before nats-server 2.11's per-key TTLs), so the watcher also expires entries
/// itself: an entry not re-put within `ttl` leaves the set. Needs cnats (`bulwark::nats`) and
/// nlohmann-json (`bulwark::json`): the value is JSON.

#include <bulwark/core/endpoint_info.hpp>
#include <bulwark/core/error.hpp>
#include <bulwark/core/time.hpp>
#include <bulwark/detail/validate.hpp>

#include <nats/nats.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace bulwark {

/// Settings shared by registrations and watchers of one bucket.
struct nats_kv_options {
    std::string bucket = "services";              ///< the KV bucket (created if missing)
    duration ttl = std::chrono::seconds{10};      ///< an entry not refreshed within it expires
    duration heartbeat = std::chrono::seconds{3}; ///< re-put interval (< ttl)
    int replicas = 1;                             ///< bucket replicas (cluster)
    bool memory_storage = true;                   ///< bucket in memory (else file)

    void validate() const {
        using detail::require;
        require(!bucket.empty(), "nats_kv", "bucket", "non-empty", bucket);
        require(ttl >= std::chrono::milliseconds{10}, "nats_kv", "ttl", ">= 10ms", ttl);
        require(heartbeat > duration::zero() && heartbeat < ttl, "nats_kv", "heartbeat",
                "> 0 and < ttl", heartbeat);
        require(replicas >= 1 && replicas <= 5, "nats_kv", "replicas", "in [1, 5]", replicas);
    }
};

namespace detail {

inline void nats_kv_check(natsStatus s, const char* what) {
    if (s != NATS_OK)
        throw resilience_error(errc::transport_error, std::string("bulwark::nats_kv: ") + what +
                                                          ": " + natsStatus_GetText(s));
}

/// Opens the bucket, creating it (with `ttl` as its max age) when it does not exist.
inline kvStore* nats_kv_open(natsConnection* nc, const nats_kv_options& o, jsCtx** js) {
    nats_kv_check(natsConnection_JetStream(js, nc, nullptr), "JetStream context");
    kvStore* kv = nullptr;
    if (js_KeyValue(&kv, *js, o.bucket.c_str()) == NATS_OK)
        return kv;
    kvConfig cfg;
    kvConfig_Init(&cfg);
    cfg.Bucket = o.bucket.c_str();
    cfg.History = 1;
    // Max age in nanoseconds (JetStream's unit); the watcher's own expiry uses `ttl` exactly.
    cfg.TTL = std::chrono::duration_cast<std::chrono::nanoseconds>(o.ttl).count();
    cfg.StorageType = o.memory_storage ? js_MemoryStorage : js_FileStorage;
    cfg.Replicas = o.replicas;
    natsStatus s = js_CreateKeyValue(&kv, *js, &cfg);
    if (s != NATS_OK && js_KeyValue(&kv, *js, o.bucket.c_str()) == NATS_OK) // lost a race
        return kv;
    nats_kv_check(s, "create bucket");
    return kv;
}

/// A key from an address: KV keys allow `[-/_=.a-zA-Z0-9]`.
inline std::string nats_kv_key_of(std::string_view address) {
    std::string k(address);
    for (char& c : k)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '=' || c == '.' || c == '/'))
            c = '_';
    return k;
}

} // namespace detail

/// The JSON value of a registration: `{"address", "weight", "zone", "metadata"}`.
inline std::string to_json(const endpoint_info& e) {
    nlohmann::json j{
        {"address", e.address}, {"weight", e.weight}, {"zone", e.zone}, {"metadata", e.metadata}};
    return j.dump();
}

/// Parses a registration; nothing when malformed (missing address, weight 0, wrong types).
inline std::optional<endpoint_info> endpoint_from_json(std::string_view text) noexcept {
    try {
        const auto j = nlohmann::json::parse(text);
        endpoint_info e;
        e.address = j.at("address").get<std::string>();
        e.weight = j.value("weight", 1u);
        e.zone = j.value("zone", std::string{});
        if (j.contains("metadata"))
            e.metadata = j.at("metadata").get<std::map<std::string, std::string>>();
        if (e.address.empty() || e.weight == 0)
            return std::nullopt;
        return e;
    } catch (...) {
        return std::nullopt;
    }
}

/// One service instance registered in the bucket: puts its entry now and every `heartbeat`;
/// deletes it when destroyed (a graceful leave). A crashed process stops heartbeating and its
/// entry expires after `ttl`.
///
/// **Failure semantics:** the constructor throws `resilience_error(transport_error)` when the
/// bucket cannot be opened or the first put fails; later heartbeat failures are retried at the
/// next beat. **Thread safety:** one heartbeat thread; the public members are thread-safe.
class nats_kv_registration {
public:
    /// Registers `info` under `key` (default: the address with `:` replaced by `_`).
    nats_kv_registration(natsConnection* nc, endpoint_info info, nats_kv_options o = {},
                         std::string key = {})
        : opts_((o.validate(), std::move(o)))
        , key_(key.empty() ? detail::nats_kv_key_of(info.address) : std::move(key))
        , value_(to_json(info)) {
        kv_ = detail::nats_kv_open(nc, opts_, &js_);
        try {
            put();
        } catch (...) {
            release();
            throw;
        }
        thread_ = std::thread([this] { beat(); });
    }
    nats_kv_registration(const nats_kv_registration&) = delete;
    nats_kv_registration& operator=(const nats_kv_registration&) = delete;
    /// Stops heartbeating and deletes the entry (clients see the leave at once).
    ~nats_kv_registration() {
        stop_heartbeat();
        kvStore_Delete(kv_, key_.c_str());
        release();
    }

    /// Stops heartbeating but leaves the entry to expire (what a crash looks like).
    void stop_heartbeat() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        cv_.notify_all();
        if (thread_.joinable())
            thread_.join();
    }

    const std::string& key() const noexcept { return key_; }

private:
    void put() {
        std::uint64_t rev = 0;
        detail::nats_kv_check(kvStore_PutString(&rev, kv_, key_.c_str(), value_.c_str()), "put");
    }
    void beat() {
        std::unique_lock lock(mutex_);
        while (!cv_.wait_for(lock, opts_.heartbeat, [&] { return stopping_; })) {
            lock.unlock();
            std::uint64_t rev = 0;
            (void)kvStore_PutString(&rev, kv_, key_.c_str(), value_.c_str()); // next beat retries
            lock.lock();
        }
    }
    void release() noexcept {
        if (kv_)
            kvStore_Destroy(kv_);
        if (js_)
            jsCtx_Destroy(js_);
        kv_ = nullptr;
        js_ = nullptr;
    }

    nats_kv_options opts_;
    std::string key_, value_;
    jsCtx* js_ = nullptr;
    kvStore* kv_ = nullptr;
    std::mutex mutex_;
    std::condition_variable cv_;
    bool stopping_ = false;
    std::thread thread_;
};

/// A `discovery_source` over the bucket: a watcher thread follows puts, deletes and purges,
/// expires entries not refreshed within `ttl`, and calls the subscriber with the complete
/// current list after each change.
///
/// **Failure semantics:** the constructor throws `resilience_error(transport_error)` when the
/// bucket cannot be opened or watched; a malformed value is skipped (it never reaches the
/// registry); an exception from the subscriber (a registry refusing a list) is swallowed and
/// the next change tries again. **Thread safety:** callbacks run on the watcher thread, one at a
/// time; `subscribe` and `current` are thread-safe. Destroy the source before the registry.
class nats_kv_discovery {
public:
    /// Watches the bucket's keys matching `keys` (a subject-like filter; ">" = all).
    explicit nats_kv_discovery(natsConnection* nc, nats_kv_options o = {}, std::string keys = ">")
        : opts_((o.validate(), std::move(o))) {
        kv_ = detail::nats_kv_open(nc, opts_, &js_);
        natsStatus s = kvStore_Watch(&watcher_, kv_, keys.c_str(), nullptr);
        if (s != NATS_OK) {
            kvStore_Destroy(kv_);
            jsCtx_Destroy(js_);
            detail::nats_kv_check(s, "watch");
        }
        thread_ = std::thread([this] { run(); });
    }
    nats_kv_discovery(const nats_kv_discovery&) = delete;
    nats_kv_discovery& operator=(const nats_kv_discovery&) = delete;
    ~nats_kv_discovery() {
        stopping_ = true;
        kvWatcher_Stop(watcher_);
        thread_.join();
        kvWatcher_Destroy(watcher_);
        kvStore_Destroy(kv_);
        jsCtx_Destroy(js_);
    }

    /// Registers the subscriber and calls it at once with the current list.
    void subscribe(std::function<void(std::span<const endpoint_info>)> cb) {
        std::lock_guard lock(mutex_);
        subscriber_ = std::move(cb);
        publish_locked();
    }

    /// The live endpoints now.
    std::vector<endpoint_info> current() const {
        std::lock_guard lock(mutex_);
        return list_locked();
    }

private:
    struct live {
        endpoint_info info;
        time_point seen; // steady time of the last put (aged by the entry's creation time)
    };

    void run() {
        const auto poll = std::max<std::int64_t>(
            10, std::chrono::duration_cast<std::chrono::milliseconds>(opts_.ttl).count() / 10);
        while (!stopping_) {
            kvEntry* e = nullptr;
            const natsStatus s = kvWatcher_Next(&e, watcher_, poll);
            std::lock_guard lock(mutex_);
            bool changed = false;
            if (s == NATS_OK && e != nullptr) {
                changed = apply(e);
                kvEntry_Destroy(e);
            } else if (s != NATS_OK && s != NATS_TIMEOUT) {
                if (stopping_)
                    return;
            }
            changed = expire() || changed;
            if (changed)
                publish_locked();
        }
    }

    bool apply(kvEntry* e) {
        const std::string key = kvEntry_Key(e);
        const kvOperation op = kvEntry_Operation(e);
        if (op != kvOp_Put)
            return entries_.erase(key) != 0;
        auto info =
            endpoint_from_json(std::string_view(static_cast<const char*>(kvEntry_Value(e)),
                                                static_cast<std::size_t>(kvEntry_ValueLen(e))));
        if (!info)
            return entries_.erase(key) != 0;
        // Age the entry by its server timestamp (the initial values may be old).
        const auto created = std::chrono::system_clock::time_point(
            std::chrono::duration_cast<std::chrono::system_clock::duration>(
                std::chrono::nanoseconds(kvEntry_Created(e))));
        auto age = std::chrono::system_clock::now() - created;
        if (age < std::chrono::system_clock::duration::zero())
            age = {};
        const time_point seen =
            std::chrono::steady_clock::now() - std::chrono::duration_cast<duration>(age);
        auto it = entries_.find(key);
        const bool same = it != entries_.end() && it->second.info == *info;
        entries_[key] = live{std::move(*info), seen};
        return !same;
    }

    bool expire() {
        const time_point limit = std::chrono::steady_clock::now() - opts_.ttl;
        return std::erase_if(entries_, [&](const auto& kv) { return kv.second.seen < limit; }) != 0;
    }

    std::vector<endpoint_info> list_locked() const {
        std::vector<endpoint_info> out;
        out.reserve(entries_.size());
        for (const auto& [k, v] : entries_)
            out.push_back(v.info);
        return out;
    }

    void publish_locked() {
        if (!subscriber_)
            return;
        const auto list = list_locked();
        try {
            subscriber_(list);
        } catch (...) {
            // a registry refusing the list (duplicate addresses under two keys): next change
        }
    }

    nats_kv_options opts_;
    jsCtx* js_ = nullptr;
    kvStore* kv_ = nullptr;
    kvWatcher* watcher_ = nullptr;
    mutable std::mutex mutex_;
    std::map<std::string, live> entries_;
    std::function<void(std::span<const endpoint_info>)> subscriber_;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

} // namespace bulwark
