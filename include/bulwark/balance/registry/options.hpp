#pragma once
/// \file
/// The settings of a `registry` and the `discovery_source` concept it attaches to.

#include <bulwark/balance/outlier.hpp>
#include <bulwark/core/endpoint_info.hpp>
#include <bulwark/core/time.hpp>
#include <bulwark/detail/validate.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <span>
#include <utility>

namespace bulwark {

/// Settings of a registry.
struct registry_options {
    /// Below this fraction of healthy endpoints, balance across all of them (Envoy's panic
    /// threshold, default 50 %; 0 disables panic: then no healthy endpoint means `no_endpoint`).
    /// In [0, 1].
    double panic_threshold = 0.5;
    /// Passive outlier ejection (off when empty).
    std::optional<outlier_options> outlier{};
    /// τ of the peak-EWMA latency estimate (Finagle `decayTime`, Envoy: 10 s); > 0. Any
    /// positive value is safe: the decay is `exp(−Δt/τ)` in floating point.
    duration ewma_decay = std::chrono::seconds{10};
    /// The time source of latency, ejections and health checks (`.clock = manual` in tests).
    any_clock clock{};

    /// Throws `invalid_argument_error` for out-of-range settings.
    void validate() const {
        detail::require(panic_threshold >= 0.0 && panic_threshold <= 1.0, "registry",
                        "panic_threshold", "in [0, 1]", panic_threshold);
        detail::require(ewma_decay > duration::zero(), "registry", "ewma_decay", "> 0", ewma_decay);
        if (outlier)
            outlier->validate();
    }
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

} // namespace bulwark
