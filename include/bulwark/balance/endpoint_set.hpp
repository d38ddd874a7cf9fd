#pragma once
/// \file
/// `endpoint_set`: one immutable snapshot of a registry — all endpoints, the ready ones (the ones
/// to balance over), and per-strategy tables derived from them (rings, Maglev tables).

#include <bulwark/balance/endpoint.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

namespace bulwark {

/// An immutable snapshot of a service's endpoints, what a strategy picks from.
///
/// `ready()` is the healthy endpoints, or all of them while the registry is in panic (fewer
/// healthy than the panic threshold). Strategies that need a table built from the ready set
/// (ring hash, Maglev, weighted tables) get it through `derived`, which builds it once per
/// snapshot and frees it with the snapshot — so tables never outlive or lag the set they index.
///
/// **Thread safety:** immutable after publication; `derived` is thread-safe (racing builders
/// build twice, one wins). **Allocation:** only in `derived`'s first call for a key.
class endpoint_set {
public:
    endpoint_set(std::vector<std::shared_ptr<endpoint>> owned, std::vector<const endpoint*> ready,
                 bool panic, std::uint64_t version, duration ewma_decay)
        : owned_(std::move(owned))
        , ready_(std::move(ready))
        , panic_(panic)
        , version_(version)
        , ewma_decay_(ewma_decay)
        , decay_table_(ewma_decay) {
        all_.reserve(owned_.size());
        for (const auto& e : owned_)
            all_.push_back(e.get());
    }
    endpoint_set(const endpoint_set&) = delete;
    endpoint_set& operator=(const endpoint_set&) = delete;
    ~endpoint_set() {
        for (node* n = derived_.load(std::memory_order_acquire); n != nullptr;) {
            node* next = n->next;
            n->destroy(n);
            n = next;
        }
    }

    /// Every endpoint of the service, in the order they were given.
    std::span<const endpoint* const> all() const noexcept { return all_; }
    /// The endpoints to balance over: the healthy ones, or all of them in panic.
    std::span<const endpoint* const> ready() const noexcept { return ready_; }
    /// True when too few endpoints are healthy and `ready()` is all of them (Envoy's panic mode).
    bool panic() const noexcept { return panic_; }
    /// Increases with every published snapshot of the registry.
    std::uint64_t version() const noexcept { return version_; }
    /// τ of the peak-EWMA latency estimate (the registry's setting).
    duration ewma_decay() const noexcept { return ewma_decay_; }
    /// `e^(−Δt/τ)` for this τ by table lookup (built once per snapshot; see `ewma_decay_table`).
    const ewma_decay_table& decay_table() const noexcept { return decay_table_; }
    /// The owners of the endpoints (cold queries hand these out so callers may keep them).
    const std::vector<std::shared_ptr<endpoint>>& owners() const noexcept { return owned_; }

    /// The table of type `T` for `key` (a strategy's id), built by `build(*this)` on first use.
    /// **Complexity:** one load and a compare in the common case (one strategy per registry).
    /// `build` is taken by value (a strategy passes a lambda holding `this`): a reference would
    /// make every pick store the lambda to the stack for a call that happens once.
    template <class T, class Build>
    const T& derived(std::uint64_t key, Build build) const {
        node* head = derived_.load(std::memory_order_acquire);
        // The first node, tested apart: the common case is straight-line code, no loop entry.
        if (head != nullptr && head->key == key) [[likely]]
            return static_cast<typed<T>*>(head)->value;
        for (node* n = head; n != nullptr; n = n->next)
            if (n->key == key)
                return static_cast<typed<T>*>(n)->value;
        return build_derived<T>(key, build, head);
    }

private:
    struct node {
        std::uint64_t key;
        node* next;
        void (*destroy)(node*) noexcept;
    };
    template <class T>
    struct typed : node {
        T value;
    };

    // Once per snapshot and key: kept out of line, so that `derived` (a load and a compare)
    // inlines into a pick without the builder's registers and stack frame.
    template <class T, class Build>
    [[gnu::noinline, gnu::cold]] const T& build_derived(std::uint64_t key, Build build,
                                                        node* head) const {
        auto* fresh = new typed<T>{
            {key, head, [](node* n) noexcept { delete static_cast<typed<T>*>(n); }}, build(*this)};
        for (;;) {
            if (derived_.compare_exchange_weak(fresh->next, fresh, std::memory_order_acq_rel))
                return fresh->value;
            // Another thread pushed: it may have built the same key.
            for (node* n = fresh->next; n != nullptr; n = n->next)
                if (n->key == key) {
                    delete fresh;
                    return static_cast<typed<T>*>(n)->value;
                }
        }
    }

    std::vector<std::shared_ptr<endpoint>> owned_;
    std::vector<const endpoint*> all_;
    std::vector<const endpoint*> ready_;
    bool panic_;
    std::uint64_t version_;
    duration ewma_decay_;
    ewma_decay_table decay_table_;
    mutable std::atomic<node*> derived_{nullptr};
};

namespace detail {
/// A process-wide unique id for a strategy instance (the key of its derived tables).
inline std::uint64_t next_strategy_id() noexcept {
    static std::atomic<std::uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
}
} // namespace detail

} // namespace bulwark
