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

namespace bulwark::detail {

/// The erased part of every handler node: liveness and destruction.
template <class Policy>
struct node_base {
    typename Policy::template atomic<bool> live{true};
    void (*destroy)(node_base*) noexcept = nullptr;
    bool wants_envelope = false;
    node_base* next_retired = nullptr; // the list's chain of removed nodes (under its mutex)
};

/// One handler in a snapshot: its entry point beside its node, so a publish loop reads both
/// from one contiguous array (the call target is known before the node is loaded).
template <class Node>
struct snapshot_item {
    decltype(Node::call) call;
    Node* node;
};

/// An immutable array of handlers, allocated in one block with room for `capacity` items
/// (a power of two, so a freed snapshot can be reused for the list's next size).
template <class Node>
struct snapshot {
    using item = snapshot_item<Node>;
    std::size_t size = 0;
    /// `size` when no handler wants an envelope, else 0: the one word a publish without
    /// metadata reads to learn both "how many" and "no metadata needed" (0 sends it out of
    /// line, where an empty snapshot and a snapshot with envelope handlers part).
    std::size_t plain_size = 0;
    std::size_t capacity = 0;
    bool any_envelope = false;
    snapshot* next = nullptr; // the owning list's chain of retired or pooled snapshots
    item* items() noexcept { return reinterpret_cast<item*>(this + 1); }
    item* begin() noexcept { return items(); }
    item* end() noexcept { return items() + size; }

    static snapshot* make(std::size_t n) {
        static_assert(alignof(item) <= alignof(snapshot));
        std::size_t cap = 4;
        while (cap < n)
            cap *= 2;
        void* raw = ::operator new(sizeof(snapshot) + cap * sizeof(item));
        auto* s = ::new (raw) snapshot;
        s->size = n;
        s->capacity = cap;
        return s;
    }
    static void free(snapshot* s) noexcept {
        if (s != nullptr) {
            s->~snapshot();
            ::operator delete(s);
        }
    }
    std::size_t bytes() const noexcept { return sizeof(snapshot) + capacity * sizeof(item); }
    /// Sets `plain_size` once `size` and `any_envelope` are final (before the snapshot is
    /// published).
    void seal() noexcept { plain_size = any_envelope ? 0 : size; }
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

/// The list. Writers serialise on a mutex; replaced snapshots wait on an intrusive chain until
/// no reader holds them, then go to a small per-list pool that the next writes reuse, and a
/// removed node is destroyed once no retired snapshot can still list it. So a subscribe costs
/// one allocation (its node) and an unsubscribe none, once the pool is warm.
///
/// Reclaiming a multi-threaded list costs a process-wide fence (`membarrier`, a few µs on a
/// VM), so it runs once per `reclaim_batch` replaced snapshots (or once they hold
/// `reclaim_bytes`): the fence is then a small share of each write, and memory held by retired
/// snapshots stays bounded. When no other thread holds a hazard record (one thread publishes
/// and writes, or the others have ended), no other thread can be reading: the write reclaims
/// at once, with no fence (`hazard_domain::alone`).
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
        free_chain(retired_);
        free_chain(pool_);
        destroy_all(retired_nodes_);
    }

    /// Adds `n` (owned from now on). With `exclusive`, fails (returns false, `n` not taken) when
    /// the list already has a handler: the command and query buses' "exactly one handler".
    bool add(Node* n, bool exclusive = false) {
        std::unique_lock lock(mutex_);
        snap* old = head_.load(std::memory_order_relaxed);
        std::size_t size = old ? old->size : 0;
        if (exclusive && size != 0)
            return false;
        snap* s = take(size + 1);
        for (std::size_t i = 0; i < size; ++i)
            s->items()[i] = old->items()[i];
        s->items()[size] = {n->call, n};
        s->any_envelope = (old && old->any_envelope) || n->wants_envelope;
        s->seal();
        node_base<Policy>* dead = replace(old, s);
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
        snap* s = nullptr;
        if (old->size > 1) {
            s = take(old->size - 1); // may throw: nothing changed yet
            std::size_t j = 0;
            for (std::size_t i = 0; i < old->size; ++i)
                if (i != at) {
                    s->items()[j++] = old->items()[i];
                    s->any_envelope = s->any_envelope || old->items()[i].node->wants_envelope;
                }
            s->seal();
        }
        n->live.store(false, std::memory_order_release); // no new call starts from now on
        n->next_retired = retired_nodes_;
        retired_nodes_ = n;
        node_base<Policy>* dead = replace(old, s);
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
    [[gnu::always_inline]] decltype(auto) read(F&& f) {
        if constexpr (Policy::concurrent) {
            hazard_guard<snap> g(head_); // reclamation is the writers' job
            return f(g.get());
        } else {
            struct reclaim_on_exit {
                cow_list* self;
                ~reclaim_on_exit() {
                    if (self->readers_ == 0 && self->garbage_.load() != 0) [[unlikely]] {
                        node_base<Policy>* dead = self->reclaim();
                        destroy_all(dead);
                    }
                }
            };
            reclaim_on_exit tidy{this};
            depth_guard<Node> g(head_.load(), readers_);
            return f(g.get());
        }
    }

    /// Replaced snapshots not reclaimed yet, and pooled ones (for tests).
    std::size_t retired_count() const {
        std::lock_guard lock(mutex_);
        return retired_n_;
    }
    std::size_t pooled_count() const {
        std::lock_guard lock(mutex_);
        return pool_n_;
    }

    /// Reclaim once this many snapshots are retired (multi-threaded lists)...
    static constexpr std::size_t reclaim_batch = 64;
    /// ... or once they hold this many bytes.
    static constexpr std::size_t reclaim_bytes = std::size_t{1} << 20;
    /// At most this many snapshots, and this many bytes, are kept for reuse.
    static constexpr std::size_t pool_limit = reclaim_batch;
    static constexpr std::size_t pool_bytes_limit = reclaim_bytes;

private:
    /// A snapshot with room for `n` items: a pooled one when one fits, else a new block. Pooled
    /// ones too small for `n` are freed on the way: the list grew past them, and left in the
    /// pool they would take the places of ones that fit.
    snap* take(std::size_t n) {
        for (snap** p = &pool_; *p != nullptr;) {
            snap* s = *p;
            *p = s->next;
            --pool_n_;
            pool_bytes_ -= s->bytes();
            if (s->capacity >= n) {
                s->next = nullptr;
                s->size = n;
                s->any_envelope = false;
                return s;
            }
            snap::free(s);
        }
        return snap::make(n);
    }

    node_base<Policy>* replace(snap* old, snap* s) {
        head_.exchange(s, std::memory_order_seq_cst);
        if (old != nullptr) {
            old->next = retired_;
            retired_ = old;
            ++retired_n_;
            retired_bytes_ += old->bytes();
        }
        if constexpr (Policy::concurrent) {
            // With no other thread holding a hazard record, reclaim now, without a fence; else
            // the scan costs a process-wide fence: amortize it over many writes.
            auto& domain = hazard_domain::instance();
            const hazard_record* mine = thread_hazard_owner().rec;
            if (domain.alone(mine))
                return reclaim_unheld(hazard_scan(domain, mine));
            if (retired_n_ < reclaim_batch && retired_bytes_ < reclaim_bytes)
                return nullptr;
        }
        return reclaim();
    }

    static void destroy_all(node_base<Policy>* dead) noexcept {
        while (dead != nullptr) {
            node_base<Policy>* next = dead->next_retired;
            dead->destroy(dead);
            dead = next;
        }
    }
    static void free_chain(snap* s) noexcept {
        while (s != nullptr) {
            snap* next = s->next;
            snap::free(s);
            s = next;
        }
    }

    /// A reclaimed snapshot: to the pool while it has room, else freed.
    void recycle(snap* s) noexcept {
        if (pool_n_ < pool_limit && pool_bytes_ + s->bytes() <= pool_bytes_limit) {
            s->next = pool_;
            pool_ = s;
            ++pool_n_;
            pool_bytes_ += s->bytes();
        } else {
            snap::free(s);
        }
    }

    /// Recycles replaced snapshots no reader holds; hands back the removed nodes (to destroy
    /// outside the lock) once no old snapshot (which could still list them) remains. Called
    /// with the mutex held.
    node_base<Policy>* reclaim() noexcept {
        if constexpr (Policy::concurrent) {
            heavy_fence();
            return reclaim_unheld(hazard_scan(hazard_domain::instance()));
        } else {
            const bool all = readers_ == 0;
            if (all) {
                for (snap* s = retired_; s != nullptr;) {
                    snap* next = s->next;
                    recycle(s);
                    s = next;
                }
                retired_ = nullptr;
                retired_n_ = 0;
                retired_bytes_ = 0;
            }
            return settle(all);
        }
    }

    /// The multi-threaded part of `reclaim`, once `held` has read the slots that may protect a
    /// retired snapshot: every thread's after the fence, or only the caller's when it is alone
    /// (`hazard_domain::alone`, no fence needed).
    node_base<Policy>* reclaim_unheld(const hazard_scan& held) noexcept {
        snap* keep = nullptr;
        for (snap* s = retired_; s != nullptr;) {
            snap* next = s->next;
            if (held.holds(s)) {
                s->next = keep;
                keep = s;
            } else {
                --retired_n_;
                retired_bytes_ -= s->bytes();
                recycle(s);
            }
            s = next;
        }
        retired_ = keep;
        return settle(keep == nullptr);
    }

    /// Hands back the removed nodes when `all` retired snapshots are gone, and records what
    /// is left for the next reclamation.
    node_base<Policy>* settle(bool all) noexcept {
        node_base<Policy>* dead = nullptr;
        if (all) {
            dead = retired_nodes_;
            retired_nodes_ = nullptr;
        }
        garbage_.store(retired_n_ + (retired_nodes_ != nullptr ? 1u : 0u),
                       std::memory_order_relaxed);
        return dead;
    }

    typename Policy::template atomic<snap*> head_{nullptr};
    typename Policy::template atomic<std::size_t> garbage_{0};
    std::size_t readers_ = 0; // single-threaded policy only
    mutable typename Policy::mutex mutex_;
    snap* retired_ = nullptr; // replaced, maybe still read
    std::size_t retired_n_ = 0;
    std::size_t retired_bytes_ = 0;
    snap* pool_ = nullptr; // reclaimed, free for the next writes
    std::size_t pool_n_ = 0;
    std::size_t pool_bytes_ = 0;
    node_base<Policy>* retired_nodes_ = nullptr; // removed, maybe listed by a retired snapshot
};

} // namespace bulwark::detail
