#pragma once
/// \file
/// `registry`: the endpoints of one service — a static list or whatever a discovery source
/// pushes — published as immutable snapshots that pickers read without a lock, plus the health
/// bookkeeping (outlier ejection, panic threshold) that decides which endpoints are ready.

#include <bulwark/balance/detail/read_epoch.hpp>
#include <bulwark/balance/endpoint.hpp>
#include <bulwark/balance/endpoint_set.hpp>
#include <bulwark/balance/outlier.hpp>
#include <bulwark/core/classify.hpp>
#include <bulwark/core/context.hpp>
#include <bulwark/core/error.hpp>
#include <bulwark/core/time.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace bulwark {

/// Settings of a registry.
struct registry_options {
    /// Below this fraction of healthy endpoints, balance across all of them (Envoy's panic
    /// threshold, default 50 %; 0 disables panic: then no healthy endpoint means `no_endpoint`).
    double panic_threshold = 0.5;
    /// Passive outlier ejection (off when empty).
    std::optional<outlier_options> outlier{};
    /// τ of the peak-EWMA latency estimate (Finagle `decayTime`, Envoy: 10 s).
    duration ewma_decay = std::chrono::seconds{10};
    /// The time source of latency, ejections and health checks (`.clock = manual` in tests).
    any_clock clock{};
};

/// Called by a discovery source with the service's complete, current endpoint list.
using discovery_callback = std::function<void(std::span<const endpoint_info>)>;

/// Anything that pushes endpoint sets: `src.subscribe(callback)` registers a callback that the
/// source calls with each new complete list (DNS, Consul, xDS, a config file watcher...).
/// What `subscribe` returns (a subscription handle, say) is handed back by `registry::attach`.
template <class D>
concept discovery_source = requires(D& d, discovery_callback cb) {
    d.subscribe(std::move(cb));
};

/// The endpoints of one service.
///
/// **Failure semantics:** `update` throws `invalid_argument_error` for an empty or duplicate
/// address or a zero weight, and leaves the registry unchanged.
/// **Thread safety:** everything is thread-safe. Readers (`read`) never lock: they announce
/// themselves on a striped counter and load the current snapshot; updates (membership, health)
/// build a new snapshot under a mutex, publish it and wait for the few readers of the old one.
/// An endpoint removed by an update is kept alive until its in-flight requests end.
/// Do not call `update`/`refresh` from inside a `read()` section (it would wait for itself).
/// **Allocation:** none to read; updates allocate the new snapshot.
class registry {
public:
    explicit registry(registry_options o = {})
        : opts_(std::move(o)) {
        if (!(opts_.panic_threshold >= 0.0 && opts_.panic_threshold <= 1.0))
            throw invalid_argument_error("registry_options: panic_threshold must be in [0, 1]");
        if (opts_.ewma_decay <= duration::zero())
            throw invalid_argument_error("registry_options: ewma_decay must be > 0");
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
    void update(std::span<const endpoint_info> infos);
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
        std::size_t slot_;
        const endpoint_set* set_;
    };
    /// Opens a read section. **Complexity:** two atomic increments, no lock, no allocation.
    reader read() const noexcept { return reader{*this}; }

    /// Records the end of a request on `e`: latency into its peak EWMA, the verdict into outlier
    /// detection (which may eject it and publish a new snapshot — cold path).
    void record(const endpoint& e, verdict v, duration rtt, time_point now);
    /// Returns ejected endpoints whose time is up. Costs one load unless one is due.
    void return_due(time_point now) {
        if (detector_ && now >= detector_->next_return()) [[unlikely]] {
            std::lock_guard lock(mutex_);
            const endpoint_set& cur = *current_.load(std::memory_order_relaxed);
            if (detector_->sweep(cur.all(), now))
                publish_locked(cur.owners());
        }
    }
    /// Rebuilds the ready set after health flags changed (health checks call it).
    void refresh();

    const registry_options& options() const noexcept { return opts_; }
    const any_clock& clock() const noexcept { return opts_.clock; }
    /// The outlier detector, or null when outlier ejection is off.
    const outlier_detector* outliers() const noexcept { return detector_ ? &*detector_ : nullptr; }

    // ---- cold queries (allocate; return owning handles) ------------------------------------
    // Templates only so that their range-v3 pipelines are instantiated in the translation units
    // that use them, not in every one that includes the registry (compile time).

    /// Every endpoint.
    template <class = void>
    std::vector<std::shared_ptr<const endpoint>> endpoints() const;
    /// The healthy endpoints (not ejected, not failing active checks).
    template <class = void>
    std::vector<std::shared_ptr<const endpoint>> healthy() const;
    /// The endpoints of a zone.
    template <class = void>
    std::vector<std::shared_ptr<const endpoint>> in_zone(std::string_view zone) const;
    /// The ready endpoints that `ctx` has not tried yet in this call.
    template <class = void>
    std::vector<std::shared_ptr<const endpoint>> not_tried(const context& ctx) const;
    /// The endpoint with this address, or null.
    template <class = void>
    std::shared_ptr<const endpoint> find(std::string_view address) const;
    std::size_t size() const noexcept { return read()->all().size(); }
    bool panic() const noexcept { return read()->panic(); }
    std::uint64_t version() const noexcept { return read()->version(); }

private:
    template <class Pred>
    std::vector<std::shared_ptr<const endpoint>> query(Pred pred) const;
    void publish_locked(std::vector<std::shared_ptr<endpoint>> owned);

    registry_options opts_;
    std::optional<outlier_detector> detector_;
    std::atomic<const endpoint_set*> current_{nullptr};
    mutable detail::read_epoch epoch_;
    std::mutex mutex_;
    std::vector<std::shared_ptr<endpoint>> retired_; // removed, maybe still in flight
    std::uint64_t version_ = 0;
};

} // namespace bulwark

#include <bulwark/balance/detail/registry_impl.hpp>
