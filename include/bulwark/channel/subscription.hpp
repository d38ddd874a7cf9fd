#pragma once
/// \file
/// `subscription`: the RAII handle of one handler on a bus (unsubscribes when destroyed), and the
/// bus lock policies `multi_threaded` (default) and `single_threaded`.

#include <atomic>
#include <memory>
#include <mutex>
#include <utility>

namespace bulwark {

namespace detail {
/// `std::atomic`'s interface without atomicity, for single-threaded buses.
template <class T>
class plain_atomic {
public:
    constexpr plain_atomic() noexcept = default;
    constexpr plain_atomic(T v) noexcept
        : v_(v) {}
    [[gnu::always_inline]] T load(std::memory_order = std::memory_order_seq_cst) const noexcept {
        return v_;
    }
    [[gnu::always_inline]] void store(T v, std::memory_order = std::memory_order_seq_cst) noexcept {
        v_ = v;
    }
    T exchange(T v, std::memory_order = std::memory_order_seq_cst) noexcept {
        return std::exchange(v_, v);
    }
    T fetch_add(T d, std::memory_order = std::memory_order_seq_cst) noexcept {
        return std::exchange(v_, v_ + d);
    }

private:
    T v_{};
};

struct null_mutex {
    void lock() noexcept {}
    bool try_lock() noexcept { return true; }
    void unlock() noexcept {}
};
} // namespace detail

/// Lock policy (default): subscribe, unsubscribe and publish from any thread, concurrently and
/// from inside handlers. Publishing is lock-free: it reads an immutable snapshot of the
/// subscribers under a hazard slot; subscribing copies the snapshot under a writer mutex.
struct multi_threaded {
    static constexpr bool concurrent = true;
    template <class T>
    using atomic = std::atomic<T>;
    using mutex = std::mutex;
};

/// Lock policy for a bus used by one thread only: no atomics, no mutex. Re-entrancy (publishing,
/// subscribing or unsubscribing from inside a handler) stays safe.
struct single_threaded {
    static constexpr bool concurrent = false;
    template <class T>
    using atomic = detail::plain_atomic<T>;
    using mutex = detail::null_mutex;
};

namespace detail {
/// What a subscription points at: a list that can remove one of its nodes.
struct removable {
    virtual bool remove(void* node) = 0;
    virtual bool contains(const void* node) const = 0;

protected:
    ~removable() = default;
};
} // namespace detail

/// The handle of one subscribed handler (or responder). Unsubscribes when destroyed.
///
/// After `unsubscribe()` returns, no new call of the handler starts; a call already running on
/// another thread may still finish (as Boost.Signals2's `disconnect`). Calling it from inside the
/// handler itself is safe. A subscription may outlive its bus (it then does nothing).
///
/// **Thread safety:** one subscription object is used by one thread at a time (as a
/// `std::unique_ptr`); unsubscribing races safely with publishing on other threads.
/// **Allocation:** none to unsubscribe.
class [[nodiscard]] subscription {
public:
    subscription() noexcept = default;
    subscription(std::weak_ptr<detail::removable> list, void* node) noexcept
        : list_(std::move(list))
        , node_(node) {}
    subscription(subscription&& o) noexcept
        : list_(std::move(o.list_))
        , node_(std::exchange(o.node_, nullptr)) {}
    subscription& operator=(subscription&& o) noexcept {
        if (this != &o) {
            unsubscribe();
            list_ = std::move(o.list_);
            node_ = std::exchange(o.node_, nullptr);
        }
        return *this;
    }
    ~subscription() { unsubscribe(); }

    /// Removes the handler; returns whether it was still subscribed. Idempotent.
    bool unsubscribe() noexcept {
        void* n = std::exchange(node_, nullptr);
        if (n == nullptr)
            return false;
        auto list = list_.lock();
        list_.reset();
        if (!list)
            return false;
        try {
            return list->remove(n);
        } catch (...) { // the snapshot copy could not be allocated: keep the node flagged off
            return false;
        }
    }

    /// True while the handler is subscribed.
    bool active() const {
        if (node_ == nullptr)
            return false;
        auto list = list_.lock();
        return list && list->contains(node_);
    }
    explicit operator bool() const { return active(); }

    /// Lets the handler live as long as the bus: the handle no longer unsubscribes.
    void release() noexcept {
        node_ = nullptr;
        list_.reset();
    }

private:
    std::weak_ptr<detail::removable> list_;
    void* node_ = nullptr;
};

} // namespace bulwark
