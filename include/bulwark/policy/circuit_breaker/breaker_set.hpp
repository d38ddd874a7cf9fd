#pragma once
/// \file
/// `breaker_set<Key>`: one circuit breaker per key (endpoint, host, tenant), made on first use.
/// What Polly users build by hand with registries keyed by authority (Polly #1797, MEHR
/// `SelectPipelineByAuthority`), and what the load balancer uses per endpoint.
///
/// ```cpp
/// bulwark::breaker_set<std::string> breakers{{.consecutive_failures = 5, .open_for = 10s}};
/// bulwark::circuit_breaker& b = breakers["10.0.0.7:8080"];   // stable reference
/// ```

#include <bulwark/policy/circuit_breaker.hpp>

#include <cstddef>
#include <functional>
#include <mutex>
#include <shared_mutex>
#include <type_traits>
#include <unordered_map>
#include <utility>

namespace bulwark {

/// A set of breakers, one per key, each made on the first lookup of its key.
///
/// `Breaker` is any breaker type (default `circuit_breaker`); `make(key)` builds one — by
/// default from the set's options, so every key gets the same settings and its own state.
///
/// **Failure semantics:** the options are checked once, at construction (`invalid_argument_error`).
/// **Thread safety:** all members are thread-safe. A lookup takes a shared lock; the first
/// lookup of a key takes the exclusive lock and allocates (cold path). Breakers are never
/// removed, so a returned reference stays valid for the set's lifetime: hold it (as the
/// balancer does per endpoint) to keep the map off the per-call path.
/// **Allocation:** one node and one breaker per key, on its first lookup.
template <class Key, class Breaker = circuit_breaker, class Hash = std::hash<Key>,
          class Equal = std::equal_to<Key>>
class breaker_set {
public:
    using key_type = Key;
    using breaker_type = Breaker;
    using factory = std::function<Breaker(const Key&)>;

    /// Every key gets a breaker with these options.
    explicit breaker_set(circuit_breaker_options options) requires
        std::is_constructible_v<Breaker, const circuit_breaker_options&>
        : make_((detail::check_breaker_options(options),
                 [options](const Key&) { return Breaker(options); })) {}
    /// `make(key)` builds the breaker of a key (per-key settings, listeners, classifiers).
    explicit breaker_set(factory make)
        : make_(std::move(make)) {}

    breaker_set(const breaker_set&) = delete;
    breaker_set& operator=(const breaker_set&) = delete;

    /// The breaker of `key`, made now if it does not exist yet.
    Breaker& operator[](const Key& key) { return get(key); }
    Breaker& get(const Key& key) {
        {
            std::shared_lock lock(mutex_);
            if (auto it = map_.find(key); it != map_.end())
                return it->second;
        }
        Breaker made = make_(key); // outside the lock: user code
        std::unique_lock lock(mutex_);
        return map_.try_emplace(key, std::move(made)).first->second;
    }
    /// The breaker of `key`, or nullptr if it was never looked up.
    Breaker* find(const Key& key) {
        std::shared_lock lock(mutex_);
        auto it = map_.find(key);
        return it == map_.end() ? nullptr : &it->second;
    }
    /// Number of keys seen.
    std::size_t size() const {
        std::shared_lock lock(mutex_);
        return map_.size();
    }
    /// Calls `f(key, breaker)` for each key (under the shared lock: do not look up new keys).
    template <class F>
    void for_each(F&& f) {
        std::shared_lock lock(mutex_);
        for (auto& [k, b] : map_)
            f(k, b);
    }
    /// Resets every breaker to closed (after a deployment, say).
    void reset_all() {
        for_each([](const Key&, Breaker& b) { b.reset(); });
    }

private:
    factory make_;
    mutable std::shared_mutex mutex_;
    std::unordered_map<Key, Breaker, Hash, Equal>
        map_; // nodes are stable: references survive rehash
};

} // namespace bulwark
