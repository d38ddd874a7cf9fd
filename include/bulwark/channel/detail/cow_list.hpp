#pragma once
/// \file
/// The copy-on-write handler list of one topic: readers (publish) walk an immutable snapshot
/// without a lock or an allocation; writers (subscribe, unsubscribe) copy the snapshot under a
/// mutex, swap it in, and reclaim replaced snapshots once no reader holds them. Handlers thus
/// never run under a lock, and may subscribe, unsubscribe or publish re-entrantly — the
/// deadlock-on-emit and disconnect-during-emit issues of Boost.Signals2 (#36) and sigslot (#1,
/// #23) cannot occur; sigslot's own fix for #5 is the same copy-on-write idea.

#include <bulwark/channel/detail/hazard.hpp>
#include <bulwark/channel/subscription.hpp>

#include <cstddef>
#include <mutex>
#include <new>
#include <vector>

namespace bulwark::detail {

/// The erased part of every handler node: liveness and destruction.
template <class Policy>
struct node_base {
    typename Policy::template atomic<bool> live{true};
    void (*destroy)(node_base*) noexcept = nullptr;
    bool wants_envelope = false;
};

/// One handler in a snapshot: its entry point beside its node, so a publish loop reads both
/// from one contiguous array (the call target is known before the node is loaded).
template <class Node>
struct snapshot_item {
    decltype(Node::call) call;
    Node* node;
};

/// An immutable array of handlers, allocated in one block.
template <class Node>
struct snapshot {
    using item = snapshot_item<Node>;
    std::size_t size = 0;
    bool any_envelope = false;
    item* items() noexcept { return reinterpret_cast<item*>(this + 1); }
    item* begin() noexcept { return items(); }
    item* end() noexcept { return items() + size; }

    static snapshot* make(std::size_t n) {
        static_assert(alignof(item) <= alignof(snapshot));
        void* raw = ::operator new(sizeof(snapshot) + n * sizeof(item));
        auto* s = ::new (raw) snapshot;
        s->size = n;
        return s;
    }
    static void free(snapshot* s) noexcept {
        if (s != nullptr) {
            s->~snapshot();
            ::operator delete(s);
        }
    }
};

/// Holds readers of a single-threaded list off reclamation (a plain depth counter).
template <class Node>
class depth_guard {
public:
    depth_guard(snapshot<Node>* p, std::size_t& readers) noexcept
        : p_(p)
        , readers_(&readers) {
        ++*readers_;
    }
    depth_guard(const depth_guard&) = delete;
    ~depth_guard() { --*readers_; }
    snapshot<Node>* get() const noexcept { return p_; }

private:
    snapshot<Node>* p_;
    std::size_t* readers_;
};

template <class Policy, class Node>
class cow_list final : public removable {
    using snap = snapshot<Node>;

public:
    cow_list() = default;
    cow_list(const cow_list&) = delete;
    ~cow_list() {
        snap* h = head_.load(std::memory_order_acquire);
        if (h != nullptr)
            for (auto& it : *h)
                it.node->destroy(it.node);
        snap::free(h);
        for (snap* s : retired_)
            snap::free(s);
        for (Node* n : retired_nodes_)
            n->destroy(n);
    }

    /// Adds `n` (owned from now on). With `exclusive`, fails (returns false, `n` not taken) when
    /// the list already has a handler: the command and query buses' "exactly one handler".
    bool add(Node* n, bool exclusive = false) {
        std::unique_lock lock(mutex_);
        snap* old = head_.load(std::memory_order_relaxed);
        std::size_t size = old ? old->size : 0;
        if (exclusive && size != 0)
            return false;
        snap* s = snap::make(size + 1);
        for (std::size_t i = 0; i < size; ++i)
            s->items()[i] = old->items()[i];
        s->items()[size] = {n->call, n};
        s->any_envelope = (old && old->any_envelope) || n->wants_envelope;
        auto dead = replace(old, s);
        lock.unlock();
        destroy_all(dead);
        return true;
    }

    bool remove(void* node) override {
        std::unique_lock lock(mutex_);
        snap* old = head_.load(std::memory_order_relaxed);
        if (old == nullptr)
            return false;
        std::size_t at = old->size;
        for (std::size_t i = 0; i < old->size; ++i)
            if (old->items()[i].node == node)
                at = i;
        if (at == old->size)
            return false;
        Node* n = old->items()[at].node;
        retired_nodes_.reserve(retired_nodes_.size() + 1); // before any change: strong guarantee
        retired_.reserve(retired_.size() + 1);
        snap* s = nullptr;
        if (old->size > 1) {
            s = snap::make(old->size - 1);
            std::size_t j = 0;
            for (std::size_t i = 0; i < old->size; ++i)
                if (i != at) {
                    s->items()[j++] = old->items()[i];
                    s->any_envelope = s->any_envelope || old->items()[i].node->wants_envelope;
                }
        }
        n->live.store(false, std::memory_order_release); // no new call starts from now on
        retired_nodes_.push_back(n);
        auto dead = replace(old, s);
        lock.unlock();
        destroy_all(dead); // user destructors run outside the lock: they may use the bus
        return true;
    }

    bool contains(const void* node) const override {
        std::lock_guard lock(mutex_);
        snap* h = head_.load(std::memory_order_relaxed);
        if (h != nullptr)
            for (auto& it : *h)
                if (it.node == node)
                    return true;
        return false;
    }

    std::size_t size() const {
        std::lock_guard lock(mutex_);
        snap* h = head_.load(std::memory_order_relaxed);
        return h ? h->size : 0;
    }

    /// Calls `f(snapshot*)` (null when empty) with the snapshot protected from reclamation.
    template <class F>
    decltype(auto) read(F&& f) {
        if constexpr (Policy::concurrent) {
            hazard_guard<snap> g(head_); // reclamation is the writers' job
            return f(g.get());
        } else {
            struct reclaim_on_exit {
                cow_list* self;
                ~reclaim_on_exit() {
                    if (self->readers_ == 0 && self->garbage_.load() != 0) [[unlikely]] {
                        auto dead = self->reclaim();
                        destroy_all(dead);
                    }
                }
            };
            reclaim_on_exit tidy{this};
            depth_guard<Node> g(head_.load(), readers_);
            return f(g.get());
        }
    }

private:
    std::vector<Node*> replace(snap* old, snap* s) {
        retired_.reserve(retired_.size() + 1);
        head_.exchange(s, std::memory_order_seq_cst);
        if (old != nullptr)
            retired_.push_back(old);
        // The multi-threaded scan costs a process-wide fence: amortize it over a few writes.
        if (Policy::concurrent && retired_.size() < reclaim_batch)
            return {};
        return reclaim();
    }

    static void destroy_all(std::vector<Node*>& dead) noexcept {
        for (Node* n : dead)
            n->destroy(n);
    }

    /// Frees replaced snapshots no reader holds; frees removed nodes once no old snapshot (which
    /// could still list them) remains. Called with the mutex held.
    std::vector<Node*> reclaim() noexcept {
        if constexpr (Policy::concurrent) {
            heavy_fence();
            auto& domain = hazard_domain::instance();
            std::erase_if(retired_, [&](snap* s) {
                if (domain.protects(s))
                    return false;
                snap::free(s);
                return true;
            });
        } else {
            if (readers_ == 0) {
                for (snap* s : retired_)
                    snap::free(s);
                retired_.clear();
            }
        }
        std::vector<Node*> dead;
        if (retired_.empty())
            dead.swap(retired_nodes_);
        garbage_.store(retired_.size() + retired_nodes_.size(), std::memory_order_relaxed);
        return dead;
    }

    static constexpr std::size_t reclaim_batch = 8;

    typename Policy::template atomic<snap*> head_{nullptr};
    typename Policy::template atomic<std::size_t> garbage_{0};
    std::size_t readers_ = 0; // single-threaded policy only
    mutable typename Policy::mutex mutex_;
    std::vector<snap*> retired_;
    std::vector<Node*> retired_nodes_;
};

} // namespace bulwark::detail
