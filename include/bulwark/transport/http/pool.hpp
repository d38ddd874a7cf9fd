#pragma once
/// \file
/// The keep-alive connection pool: one per endpoint address, a fixed array of idle slots taken and
/// returned with atomic exchanges (no lock while a connection is idle and within its limits), a
/// cap on open connections, and a waiter queue (mutex + condition variable, only when the cap is
/// reached) bounded by the call's deadline, its stop token and `acquire_timeout`.

#include <bulwark/core/context.hpp>
#include <bulwark/core/time.hpp>
#include <bulwark/transport/http/sync_connection.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>

namespace bulwark::detail {

/// Pool limits (a copy of the transport's settings).
struct pool_limits {
    std::uint32_t max_connections = 16;
    duration idle_timeout = std::chrono::seconds{60};
    std::uint32_t max_requests_per_connection = 0; // 0 = unlimited
    duration acquire_timeout = std::chrono::seconds{1};
};

/// The connections of one endpoint.
template <class Conn>
class endpoint_pool {
public:
    explicit endpoint_pool(const pool_limits& l)
        : limits_(l)
        , idle_(std::make_unique<std::atomic<Conn*>[]>(l.max_connections)) {}
    endpoint_pool(const endpoint_pool&) = delete;
    endpoint_pool& operator=(const endpoint_pool&) = delete;
    ~endpoint_pool() { close_idle(time_point::max()); }

    enum class acquire_error { none, timeout, cancelled, exhausted };

    /// An idle connection, or a new one if the cap allows, else waits. Never returns null
    /// without setting `err`.
    Conn* acquire(context& ctx, time_point now, acquire_error& err) {
        if (Conn* c = take_idle(now))
            return c;
        if (Conn* c = open_new())
            return c;
        return wait(ctx, now, err);
    }

    /// An idle connection or a new one within the cap; null when the pool is full (no wait).
    Conn* try_acquire(time_point now) {
        if (Conn* c = take_idle(now))
            return c;
        return open_new();
    }

    /// Returns a connection: back into an idle slot when `reusable`, else closed and freed.
    void release(Conn* c, bool reusable, time_point now) noexcept {
        if (reusable && c->is_open() &&
            (limits_.max_requests_per_connection == 0 ||
             c->requests() < limits_.max_requests_per_connection)) {
            c->set_last_used(now);
            for (std::uint32_t i = 0; i < limits_.max_connections; ++i) {
                Conn* expected = nullptr;
                if (idle_[i].compare_exchange_strong(expected, c, std::memory_order_acq_rel)) {
                    notify();
                    return;
                }
            }
        }
        destroy(c);
        notify();
    }

    /// Closes idle connections unused since before `older_than` (all with `time_point::max()`).
    /// Returns how many it closed.
    std::size_t close_idle(time_point older_than) noexcept {
        std::size_t n = 0;
        for (std::uint32_t i = 0; i < limits_.max_connections; ++i) {
            Conn* c = idle_[i].exchange(nullptr, std::memory_order_acq_rel);
            if (c == nullptr)
                continue;
            if (c->last_used() < older_than || older_than == time_point::max()) {
                destroy(c);
                ++n;
            } else {
                release(c, true, c->last_used());
            }
        }
        if (n != 0)
            notify();
        return n;
    }

    /// Open connections (idle and in use).
    std::uint32_t open() const noexcept { return open_.load(std::memory_order_acquire); }
    /// Idle connections.
    std::uint32_t idle() const noexcept {
        std::uint32_t n = 0;
        for (std::uint32_t i = 0; i < limits_.max_connections; ++i)
            n += idle_[i].load(std::memory_order_acquire) != nullptr ? 1U : 0U;
        return n;
    }

private:
    Conn* take_idle(time_point now) noexcept {
        for (std::uint32_t i = 0; i < limits_.max_connections; ++i) {
            if (idle_[i].load(std::memory_order_relaxed) == nullptr)
                continue;
            Conn* c = idle_[i].exchange(nullptr, std::memory_order_acq_rel);
            if (c == nullptr)
                continue;
            // Idle too long (the server's keep-alive may have closed it) or closed: drop it.
            if (!c->is_open() || now - c->last_used() > limits_.idle_timeout) {
                destroy(c);
                continue;
            }
            return c;
        }
        return nullptr;
    }
    Conn* open_new() {
        std::uint32_t n = open_.load(std::memory_order_relaxed);
        while (n < limits_.max_connections)
            if (open_.compare_exchange_weak(n, n + 1, std::memory_order_acq_rel)) {
                try {
                    return new Conn();
                } catch (...) {
                    open_.fetch_sub(1, std::memory_order_acq_rel);
                    throw;
                }
            }
        return nullptr;
    }
    void destroy(Conn* c) noexcept {
        delete c;
        open_.fetch_sub(1, std::memory_order_acq_rel);
    }
    void notify() noexcept {
        // Pairs with the waiter's increment before it re-checks the slots (Dekker-style).
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (waiters_.load(std::memory_order_seq_cst) == 0)
            return;
        { std::lock_guard lock(mutex_); }
        cv_.notify_all();
    }
    Conn* wait(context& ctx, time_point now, acquire_error& err) {
        time_point until = saturating_add(now, limits_.acquire_timeout);
        const bool by_deadline = ctx.deadline() < until;
        if (by_deadline)
            until = ctx.deadline();
        std::unique_lock lock(mutex_);
        waiters_.fetch_add(1, std::memory_order_seq_cst);
        Conn* got = nullptr;
        std::stop_token st = ctx.stop_token();
        cv_.wait_until(lock, st, until, [&] {
            got = take_idle(std::chrono::steady_clock::now());
            if (got == nullptr)
                got = open_new();
            return got != nullptr;
        });
        waiters_.fetch_sub(1, std::memory_order_acq_rel);
        if (got == nullptr)
            err = st.stop_requested() ? acquire_error::cancelled
                  : by_deadline       ? acquire_error::timeout
                                      : acquire_error::exhausted;
        return got;
    }

    pool_limits limits_;
    std::unique_ptr<std::atomic<Conn*>[]> idle_;
    std::atomic<std::uint32_t> open_{0};
    std::atomic<std::uint32_t> waiters_{0};
    std::mutex mutex_;
    std::condition_variable_any cv_;
};

/// Endpoint address → its pools, found without a lock: a fixed open-addressing table of entries
/// that are created once (cold) and live as long as the transport; beyond its capacity, a
/// mutex-guarded overflow list.
class pool_table {
public:
    struct entry {
        entry(std::string a, const pool_limits& l)
            : address(std::move(a))
            , pool(l) {}
        std::string address;
        endpoint_pool<sync_connection> pool;
    };

    pool_table(std::size_t capacity, const pool_limits& l)
        : cap_(capacity)
        , slots_(std::make_unique<std::atomic<entry*>[]>(capacity))
        , limits_(l) {}
    pool_table(const pool_table&) = delete;
    ~pool_table() {
        for (std::size_t i = 0; i < cap_; ++i)
            delete slots_[i].load(std::memory_order_relaxed);
    }

    /// The entry of `address`, created on first use.
    entry& of(std::string_view address) {
        std::uint64_t h = 0xcbf29ce484222325ULL;
        for (const char ch : address)
            h = (h ^ static_cast<unsigned char>(ch)) * 0x100000001b3ULL;
        for (std::size_t probe = 0; probe < cap_; ++probe) {
            auto& slot = slots_[(h + probe) % cap_];
            entry* e = slot.load(std::memory_order_acquire);
            if (e == nullptr) {
                auto fresh = std::make_unique<entry>(std::string(address), limits_);
                if (slot.compare_exchange_strong(e, fresh.get(), std::memory_order_acq_rel))
                    return *fresh.release();
                // another thread filled the slot: e now holds its entry
            }
            if (e->address == address)
                return *e;
        }
        std::lock_guard lock(overflow_mutex_);
        for (auto& e : overflow_)
            if (e.address == address)
                return e;
        return overflow_.emplace_back(std::string(address), limits_);
    }

    /// Calls `f(entry&)` for every entry.
    template <class F>
    void for_each(F&& f) {
        for (std::size_t i = 0; i < cap_; ++i)
            if (entry* e = slots_[i].load(std::memory_order_acquire))
                f(*e);
        std::lock_guard lock(overflow_mutex_);
        for (auto& e : overflow_)
            f(e);
    }

private:
    std::size_t cap_;
    std::unique_ptr<std::atomic<entry*>[]> slots_;
    pool_limits limits_;
    std::mutex overflow_mutex_;
    std::deque<entry> overflow_;
};

} // namespace bulwark::detail
