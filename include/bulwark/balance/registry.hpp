#pragma once
/// \file
/// `registry`: the endpoints of one service — a static list or whatever a discovery source
/// pushes — published as immutable snapshots that pickers read without a lock, plus the health
/// bookkeeping (outlier ejection, panic threshold) that decides which endpoints are ready.

#include <bulwark/balance/detail/read_epoch.hpp>
#include <bulwark/balance/endpoint.hpp>
#include <bulwark/balance/endpoint_set.hpp>
#include <bulwark/balance/outlier.hpp>
#include <bulwark/balance/registry/options.hpp>
#include <bulwark/balance/registry/snapshot.hpp>
#include <bulwark/balance/registry/update.hpp>
#include <bulwark/core/classify.hpp>
#include <bulwark/core/context.hpp>
#include <bulwark/core/error.hpp>
#include <bulwark/core/time.hpp>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace bulwark {

/// The endpoints of one service.
///
/// **Failure semantics:** the constructor throws `invalid_argument_error` for bad options;
/// `update` throws it for an empty or duplicate address or a zero weight, and leaves the registry
/// unchanged. Parts: `registry/options.hpp`, `registry/update.hpp` (membership),
/// `registry/snapshot.hpp` (ready set, panic), `registry/queries.hpp` (range-v3 queries, opt-in).
/// **Thread safety:** everything is thread-safe. Readers (`read`) never lock: they announce
/// themselves in their thread's reader record and load the current snapshot; updates (membership,
/// health) build a new snapshot under a mutex, publish it and wait for the few readers of the old
/// one. An endpoint removed by an update is kept alive until its in-flight requests end. Do not
/// call `update`/`refresh` from inside a `read()` section (it would wait for itself).
/// **Allocation:** none to read; updates allocate the new snapshot.
class registry {
public:
    explicit registry(registry_options o = {})
        : opts_(std::move(o)) {
        opts_.validate();
        if (opts_.outlier)
            detector_.emplace(*opts_.outlier);
        std::lock_guard lock(mutex_);
        publish_locked({});
    }
    /// A static list of endpoints.
    registry(std::span<const endpoint_info> endpoints, registry_options o = {})
        : registry(std::move(o)) {
        update(endpoints);
    }
    registry(std::initializer_list<endpoint_info> endpoints, registry_options o = {})
        : registry(std::span<const endpoint_info>(endpoints.begin(), endpoints.size()),
                   std::move(o)) {}
    registry(const registry&) = delete;
    registry& operator=(const registry&) = delete;
    ~registry() { delete current_.load(std::memory_order_relaxed); }

    /// Replaces the endpoint list. Endpoints whose description is unchanged keep their object
    /// and statistics (as Envoy keeps hosts across EDS updates).
    void update(std::span<const endpoint_info> infos) {
        detail::validate_endpoints(infos);
        std::lock_guard lock(mutex_);
        detail::membership m =
            detail::match_endpoints(*current_.load(std::memory_order_relaxed), infos);
        retired_.insert(retired_.end(), m.removed.begin(), m.removed.end());
        publish_locked(std::move(m.next));
    }
    void update(std::initializer_list<endpoint_info> infos) {
        update(std::span<const endpoint_info>(infos.begin(), infos.size()));
    }
    /// Subscribes to a discovery source; returns what its `subscribe` returns.
    /// The source must stop calling before the registry is destroyed.
    template <discovery_source D>
    decltype(auto) attach(D& source) {
        return source.subscribe([this](std::span<const endpoint_info> eps) { update(eps); });
    }

    /// A read section: the current snapshot, valid until the reader is destroyed.
    class reader {
    public:
        explicit reader(const registry& r) noexcept
            : epoch_(&r.epoch_)
            , slot_(r.epoch_.enter())
            , set_(r.current_.load(std::memory_order_seq_cst)) {}
        reader(const reader&) = delete;
        reader& operator=(const reader&) = delete;
        ~reader() { epoch_->leave(slot_); }
        const endpoint_set& set() const noexcept { return *set_; }
        const endpoint_set* operator->() const noexcept { return set_; }

    private:
        detail::read_epoch* epoch_;
        detail::read_epoch::token slot_;
        const endpoint_set* set_;
    };
    /// Opens a read section. **Cost:** a few plain loads and stores to this thread's record and
    /// a compiler barrier (the writer's membarrier is the hardware half; see read_epoch.hpp); no
    /// atomic read-modify-write, no lock, no allocation.
    reader read() const noexcept { return reader{*this}; }

    /// Records the end of a request on `e`: latency into its peak EWMA, the verdict into outlier
    /// detection (which may eject it and publish a new snapshot — cold path). Returns true when
    /// this call ejected `e`.
    bool record(const endpoint& e, verdict v, duration rtt, time_point now) {
        if (v == verdict::ignore)
            return false;
        e.observe_latency(rtt, now, opts_.ewma_decay);
        if (v == verdict::success) {
            outlier_detector::record_success(e);
        } else if (const auto streak = outlier_detector::record_failure(e);
                   detector_ && detector_->should_eject(e, streak)) {
            std::lock_guard lock(mutex_);
            const endpoint_set& cur = *current_.load(std::memory_order_relaxed);
            const auto out = static_cast<std::size_t>(
                std::ranges::count_if(cur.all(), [](const endpoint* x) { return x->ejected(); }));
            if (detector_->eject(e, now, cur.all().size(), out)) {
                publish_locked(cur.owners());
                return true;
            }
        }
        return false;
    }
    /// Returns ejected endpoints whose time is up. Costs one load unless one is due.
    /// `on_return(const endpoint&)` is called (under the registry's lock) for each one.
    template <class F = void (*)(const endpoint&)>
    void return_due(
        time_point now, F&& on_return = [](const endpoint&) {}) {
        if (detector_ && now >= detector_->next_return()) [[unlikely]] {
            std::lock_guard lock(mutex_);
            const endpoint_set& cur = *current_.load(std::memory_order_relaxed);
            if (detector_->sweep(cur.all(), now, on_return))
                publish_locked(cur.owners());
        }
    }
    /// Rebuilds the ready set after health flags changed (health checks call it).
    void refresh() {
        std::lock_guard lock(mutex_);
        publish_locked(current_.load(std::memory_order_relaxed)->owners());
    }

    const registry_options& options() const noexcept { return opts_; }
    const any_clock& clock() const noexcept { return opts_.clock; }
    /// The outlier detector, or null when outlier ejection is off.
    const outlier_detector* outliers() const noexcept { return detector_ ? &*detector_ : nullptr; }

    // ---- cold queries (allocate; return owning handles) ------------------------------------
    // Plain loops: range-v3 compositions over a snapshot live in balance/registry/queries.hpp,
    // so that including the registry does not parse range-v3.

    /// Every endpoint.
    std::vector<std::shared_ptr<const endpoint>> endpoints() const {
        return query([](const endpoint&) { return true; });
    }
    /// The healthy endpoints (not ejected, not failing active checks).
    std::vector<std::shared_ptr<const endpoint>> healthy() const {
        return query([](const endpoint& e) { return e.healthy(); });
    }
    /// The endpoints of a zone.
    std::vector<std::shared_ptr<const endpoint>> in_zone(std::string_view zone) const {
        return query([zone](const endpoint& e) { return e.zone() == zone; });
    }
    /// The ready endpoints that `ctx` has not tried yet in this call.
    std::vector<std::shared_ptr<const endpoint>> not_tried(const context& ctx) const {
        const reader r = read();
        const auto ready = r->ready();
        std::vector<std::shared_ptr<const endpoint>> out;
        for (const auto& e : r->owners())
            if (!ctx.was_tried(e.get()) && std::ranges::find(ready, e.get()) != ready.end())
                out.emplace_back(e);
        return out;
    }
    /// The endpoint with this address, or null.
    std::shared_ptr<const endpoint> find(std::string_view address) const {
        const reader r = read();
        for (const auto& e : r->owners())
            if (e->address() == address)
                return e;
        return nullptr;
    }
    std::size_t size() const noexcept { return read()->all().size(); }
    bool panic() const noexcept { return read()->panic(); }
    std::uint64_t version() const noexcept { return read()->version(); }

private:
    template <class Pred>
    std::vector<std::shared_ptr<const endpoint>> query(Pred pred) const {
        const reader r = read();
        std::vector<std::shared_ptr<const endpoint>> out;
        for (const auto& e : r->owners())
            if (pred(*e))
                out.emplace_back(e);
        return out;
    }

    void publish_locked(std::vector<std::shared_ptr<endpoint>> owned) {
        const endpoint_set* fresh = detail::make_snapshot(std::move(owned), opts_.panic_threshold,
                                                          ++version_, opts_.ewma_decay)
                                        .release();
        const endpoint_set* old = current_.exchange(fresh, std::memory_order_seq_cst);
        epoch_.synchronize();
        delete old;
        // Removed endpoints leave once no request is in flight on them (the balance policy
        // counts an endpoint's request as outstanding before leaving its read section).
        std::erase_if(retired_, [](const auto& e) {
            return e->outstanding_.load(std::memory_order_acquire) == 0;
        });
    }

    registry_options opts_;
    std::optional<outlier_detector> detector_;
    std::atomic<const endpoint_set*> current_{nullptr};
    mutable detail::read_epoch epoch_;
    std::mutex mutex_;
    std::vector<std::shared_ptr<endpoint>> retired_; // removed, maybe still in flight
    std::uint64_t version_ = 0;
};

} // namespace bulwark
