#pragma once
/// \file
/// The metrics listener: counters, gauges and latency histograms for every event of
/// <bulwark/observe/events.hpp>, kept lock-free (one stripe of cache lines per thread, see
/// detail/striped.hpp), with labels fixed when the listener is made, and a snapshot API.
///
/// ```cpp
/// bulwark::metrics_registry metrics;
/// auto breaker = bulwark::basic_circuit_breaker{opts, bulwark::default_classifier{},
///                    metrics.listener({.pipeline = "checkout", .policy = "payments"})};
/// ...
/// bulwark::series_snapshot s = metrics.listener({.pipeline = "checkout", .policy = "payments"})
///                                  .snapshot();     // s.breaker.not_permitted, s.breaker.state
/// std::string text = bulwark::to_prometheus(metrics);   // <bulwark/observe/prometheus.hpp>
/// ```

#include <bulwark/core/time.hpp>
#include <bulwark/detail/enum_text.hpp>
#include <bulwark/detail/validate.hpp>
#include <bulwark/observe/detail/striped.hpp>
#include <bulwark/observe/events.hpp>

#include <array>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace bulwark {

/// The labels of one series, fixed when its listener is made. Empty labels are not exported.
/// `policy` is exported as the `name` label (resilience4j's tag, so peer dashboards carry over).
struct series_labels {
    std::string pipeline{};
    std::string policy{};
    std::string endpoint{};
    std::string topic{};
    friend bool operator==(const series_labels&, const series_labels&) = default;
};

/// Groups of metrics. A series exports a group when it was declared for it or once any event of
/// the group happened (so a breaker that never changed state can still show `state="closed"`).
// gcc's -Wshadow takes a scoped enumerator for a redeclaration of a namespace-scope name
// (`bulwark::retry`, `bulwark::timeout`, ... when their headers come first); it is not one.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#endif
enum class metric_group : std::uint16_t {
    none = 0,
    retry = 1 << 0,
    breaker = 1 << 1,
    timeout = 1 << 2,
    bulkhead = 1 << 3,
    rate_limiter = 1 << 4,
    hedge = 1 << 5,
    fallback = 1 << 6,
    balance = 1 << 7,
    channel = 1 << 8,
    transport = 1 << 9,
};
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/// The enumerator's name ("none", ...); "unknown" for a value outside the enum; a combination of
/// groups is "unknown".
constexpr std::string_view to_string(metric_group v) noexcept {
    switch (v) {
    case metric_group::none:
        return "none";
    case metric_group::retry:
        return "retry";
    case metric_group::breaker:
        return "breaker";
    case metric_group::timeout:
        return "timeout";
    case metric_group::bulkhead:
        return "bulkhead";
    case metric_group::rate_limiter:
        return "rate_limiter";
    case metric_group::hedge:
        return "hedge";
    case metric_group::fallback:
        return "fallback";
    case metric_group::balance:
        return "balance";
    case metric_group::channel:
        return "channel";
    case metric_group::transport:
        return "transport";
    }
    return "unknown";
}
constexpr metric_group operator|(metric_group a, metric_group b) noexcept {
    return static_cast<metric_group>(static_cast<std::uint16_t>(a) | static_cast<std::uint16_t>(b));
}
constexpr bool has_group(metric_group set, metric_group g) noexcept {
    return (static_cast<std::uint16_t>(set) & static_cast<std::uint16_t>(g)) != 0;
}

/// Settings of a `metrics_registry`.
struct metrics_options {
    /// Upper bounds (seconds, inclusive, increasing, positive, at most 32) of the latency
    /// histograms (retry delay, bulkhead and rate-limiter waits). Bounds are kept in whole
    /// nanoseconds (a bound below 1 ns is rejected; above ~292 years is rejected).
    std::vector<double> buckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                0.1,    0.25,  0.5,    1.0,   2.5,  5.0,   10.0};
    /// Stripes per series (0 = twice the hardware threads, between 4 and 64). A thread beyond
    /// them shares one extra stripe (an atomic add instead of a plain store).
    unsigned stripes = 0;
};

/// A histogram as read: cumulative counts per upper bound, the last one for `+Inf`.
struct histogram_snapshot {
    std::vector<double> bounds{};          ///< seconds, without +Inf
    std::vector<std::uint64_t> cumulative; ///< bounds.size() + 1 entries; back() == count
    std::uint64_t count = 0;
    double sum = 0; ///< seconds
};

/// Everything one series counted, at one moment. Counters only rise.
struct series_snapshot {
    series_labels labels{};
    metric_group groups = metric_group::none; ///< the groups this series exports

    struct retry_counts {
        std::uint64_t successful_without_retry = 0, successful_with_retry = 0,
                      failed_without_retry = 0, failed_with_retry = 0;
        std::uint64_t retries = 0;        ///< retries granted (attempts after the first)
        std::uint64_t budget_refused = 0; ///< retries the budget refused
        /// Give-ups by `retry_stop` (not_retryable, attempts_exhausted, deadline, max_duration,
        /// stopped, budget_exhausted).
        std::array<std::uint64_t, 6> give_ups{};
        histogram_snapshot delay{}; ///< the waits before retries
    } retry;
    struct breaker_counts {
        std::uint8_t state = 0;                      ///< `breaker_state` value (0 = closed)
        double failure_rate = 0, slow_call_rate = 0; ///< at the last state change
        std::uint64_t successful = 0, failed = 0, ignored = 0, not_permitted = 0, transitions = 0;
    } breaker;
    struct timeout_counts {
        std::uint64_t expired_total = 0, expired_per_attempt = 0, stop_requested = 0;
    } timeout;
    struct admission_counts {
        std::uint64_t rejected = 0, queued = 0;
        histogram_snapshot wait{};
    } bulkhead, rate_limiter;
    struct hedge_counts {
        std::uint64_t started = 0, won_by_primary = 0, won_by_hedge = 0;
    } hedge;
    struct fallback_counts {
        std::uint64_t used = 0;
    } fallback;
    struct balance_counts {
        std::uint64_t picks = 0, ejections = 0, returns = 0, panics = 0;
        bool panic = false; ///< in panic mode now
    } balance;
    struct channel_counts {
        std::uint64_t published = 0, delivered = 0, nacked = 0, redelivered = 0, dropped = 0,
                      duplicates_dropped = 0;
        std::uint64_t redeliveries_scheduled = 0; ///< redeliveries decided (backoff started)
        /// By `dead_letter_kind` (max_deliveries, rejected, failed, malformed).
        std::array<std::uint64_t, 4> dead_lettered{};
    } channel;
    struct transport_counts {
        std::uint64_t connects = 0, disconnects = 0, reconnects = 0;
        bool connected = false;
    } transport;
};

/// All series of a registry, in creation order.
struct metrics_snapshot {
    std::vector<series_snapshot> series;
};

namespace detail {

/// Counter words of one series (then the histograms' words).
enum metric_word : std::size_t {
    w_retry_ok_first,
    w_retry_ok_retried,
    w_retry_failed_first,
    w_retry_failed_retried,
    w_retry_retries,
    w_retry_budget_refused,
    w_retry_give_up0, // + retry_stop (6)
    w_breaker_successful = w_retry_give_up0 + 6,
    w_breaker_failed,
    w_breaker_ignored,
    w_breaker_rejected,
    w_breaker_transitions,
    w_timeout_total,
    w_timeout_attempt,
    w_timeout_stop,
    w_bulkhead_rejected,
    w_bulkhead_queued,
    w_rl_rejected,
    w_rl_queued,
    w_hedge_started,
    w_hedge_primary,
    w_hedge_hedge,
    w_fallback_used,
    w_balance_picks,
    w_balance_ejections,
    w_balance_returns,
    w_balance_panics,
    w_channel_published,
    w_channel_delivered,
    w_channel_nacked,
    w_channel_redelivered,
    w_channel_redelivery_scheduled,
    w_channel_dropped,
    w_channel_duplicates,
    w_channel_dead0, // + dead_letter_kind (4)
    w_transport_connects = w_channel_dead0 + 4,
    w_transport_disconnects,
    w_transport_reconnects,
    w_counters
};

/// Histograms of one series.
enum metric_histogram : std::size_t { h_retry_delay, h_bulkhead_wait, h_rl_wait, h_count };

/// The storage of one series: striped counters and histograms, plus a few plain atomics for
/// gauges (written only on cold events: state changes, panic, connection).
class metric_block {
public:
    metric_block(series_labels labels, metric_group declared, const std::vector<double>& bounds,
                 unsigned stripes)
        : labels_(std::move(labels))
        , declared_(static_cast<std::uint16_t>(declared))
        , bounds_s_(bounds)
        , n_bounds_(bounds.size() < max_bounds ? bounds.size() : max_bounds)
        , words_(w_counters + h_count * (n_bounds_ + 2), stripes) {
        bounds_ns_.fill(std::numeric_limits<std::int64_t>::max()); // padding: above any wait
        for (std::size_t i = 0; i < n_bounds_; ++i)
            bounds_ns_[i] = static_cast<std::int64_t>(std::llround(bounds[i] * 1e9));
    }

    /// Most histogram bounds (`metrics_options::buckets`).
    static constexpr std::size_t max_bounds = 32;

    [[gnu::always_inline]] void add(std::size_t w, std::uint64_t n = 1) noexcept {
        words_.add(w, n);
    }

    /// Records `d` in histogram `h`: one bucket (non-cumulative; summed when read) and the sum.
    /// The bucket is found without a data-dependent branch: a lower bound over the 32 padded
    /// bounds in five halving steps (conditional adds), then one step for the 32nd bound.
    void observe(metric_histogram h, duration d) noexcept {
        const std::int64_t raw = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
        const std::int64_t ns = raw < 0 ? 0 : raw;
        std::size_t b = 0;
        for (std::size_t step = max_bounds / 2; step != 0; step /= 2)
            b += ns > bounds_ns_[b + step - 1] ? step : 0;
        b += ns > bounds_ns_[b] ? std::size_t{1}
                                : std::size_t{0}; // b == 31 and above the 32nd bound: +Inf
        // Padding is the largest int64, so b <= n_bounds_ (index n_bounds_ is +Inf).
        const std::size_t base = w_counters + h * (n_bounds_ + 2);
        words_.add(base + b);
        words_.add(base + n_bounds_ + 1, static_cast<std::uint64_t>(ns));
    }

    std::atomic<std::uint8_t> breaker_state{0};
    std::atomic<std::uint64_t> breaker_failure_rate{0}; // double bits
    std::atomic<std::uint64_t> breaker_slow_rate{0};
    std::atomic<bool> panic{false};
    std::atomic<bool> connected{false};

    const series_labels& labels() const noexcept { return labels_; }
    /// Exports `g` from now on, even before its first event.
    void declare(metric_group g) noexcept {
        declared_.fetch_or(static_cast<std::uint16_t>(g), std::memory_order_relaxed);
    }

    series_snapshot snapshot() const {
        series_snapshot s;
        s.labels = labels_;
        auto r = [&](std::size_t w) { return words_.sum(w); };
        auto& rt = s.retry;
        rt.successful_without_retry = r(w_retry_ok_first);
        rt.successful_with_retry = r(w_retry_ok_retried);
        rt.failed_without_retry = r(w_retry_failed_first);
        rt.failed_with_retry = r(w_retry_failed_retried);
        rt.retries = r(w_retry_retries);
        rt.budget_refused = r(w_retry_budget_refused);
        for (std::size_t i = 0; i < 6; ++i)
            rt.give_ups[i] = r(w_retry_give_up0 + i);
        rt.delay = histogram(h_retry_delay);
        auto& br = s.breaker;
        br.state = breaker_state.load(std::memory_order_relaxed);
        br.failure_rate =
            std::bit_cast<double>(breaker_failure_rate.load(std::memory_order_relaxed));
        br.slow_call_rate =
            std::bit_cast<double>(breaker_slow_rate.load(std::memory_order_relaxed));
        br.successful = r(w_breaker_successful);
        br.failed = r(w_breaker_failed);
        br.ignored = r(w_breaker_ignored);
        br.not_permitted = r(w_breaker_rejected);
        br.transitions = r(w_breaker_transitions);
        s.timeout = {r(w_timeout_total), r(w_timeout_attempt), r(w_timeout_stop)};
        s.bulkhead.rejected = r(w_bulkhead_rejected);
        s.bulkhead.queued = r(w_bulkhead_queued);
        s.bulkhead.wait = histogram(h_bulkhead_wait);
        s.rate_limiter.rejected = r(w_rl_rejected);
        s.rate_limiter.queued = r(w_rl_queued);
        s.rate_limiter.wait = histogram(h_rl_wait);
        s.hedge = {r(w_hedge_started), r(w_hedge_primary), r(w_hedge_hedge)};
        s.fallback.used = r(w_fallback_used);
        s.balance = {r(w_balance_picks), r(w_balance_ejections), r(w_balance_returns),
                     r(w_balance_panics), panic.load(std::memory_order_relaxed)};
        auto& ch = s.channel;
        ch.published = r(w_channel_published);
        ch.delivered = r(w_channel_delivered);
        ch.nacked = r(w_channel_nacked);
        ch.redelivered = r(w_channel_redelivered);
        ch.redeliveries_scheduled = r(w_channel_redelivery_scheduled);
        ch.dropped = r(w_channel_dropped);
        ch.duplicates_dropped = r(w_channel_duplicates);
        for (std::size_t i = 0; i < ch.dead_lettered.size(); ++i)
            ch.dead_lettered[i] = r(w_channel_dead0 + i);
        s.transport = {r(w_transport_connects), r(w_transport_disconnects),
                       r(w_transport_reconnects), connected.load(std::memory_order_relaxed)};

        // A group is exported when declared or when anything in it happened.
        metric_group g = static_cast<metric_group>(declared_.load(std::memory_order_relaxed));
        auto any = [&](std::size_t from, std::size_t to) {
            for (std::size_t w = from; w < to; ++w)
                if (r(w) != 0)
                    return true;
            return false;
        };
        auto mark = [&](bool seen, metric_group m) {
            if (seen)
                g = g | m;
        };
        mark(any(w_retry_ok_first, w_breaker_successful) || rt.delay.count != 0,
             metric_group::retry);
        mark(any(w_breaker_successful, w_timeout_total), metric_group::breaker);
        mark(any(w_timeout_total, w_bulkhead_rejected), metric_group::timeout);
        mark(any(w_bulkhead_rejected, w_rl_rejected) || s.bulkhead.wait.count != 0,
             metric_group::bulkhead);
        mark(any(w_rl_rejected, w_hedge_started) || s.rate_limiter.wait.count != 0,
             metric_group::rate_limiter);
        mark(any(w_hedge_started, w_fallback_used), metric_group::hedge);
        mark(any(w_fallback_used, w_balance_picks), metric_group::fallback);
        mark(any(w_balance_picks, w_channel_published), metric_group::balance);
        mark(any(w_channel_published, w_transport_connects), metric_group::channel);
        mark(any(w_transport_connects, w_counters), metric_group::transport);
        s.groups = g;
        return s;
    }

private:
    histogram_snapshot histogram(metric_histogram h) const {
        histogram_snapshot hs;
        const std::size_t n = n_bounds_;
        const std::size_t base = w_counters + h * (n + 2);
        hs.bounds = bounds_s_;
        hs.cumulative.resize(n + 1);
        std::uint64_t acc = 0;
        for (std::size_t b = 0; b <= n; ++b) {
            acc += words_.sum(base + b);
            hs.cumulative[b] = acc;
        }
        hs.count = acc;
        hs.sum = static_cast<double>(words_.sum(base + n + 1)) / 1e9;
        return hs;
    }

    series_labels labels_;
    std::atomic<std::uint16_t> declared_;
    std::vector<double> bounds_s_;
    std::size_t n_bounds_;
    std::array<std::int64_t, max_bounds> bounds_ns_{}; // nanoseconds, padded with int64 max
    striped_words words_;
};

} // namespace detail

class metrics_registry;

/// A listener that counts every event it hears into one series of a `metrics_registry`.
///
/// A handle: copies share the series (give one to each policy of a pipeline, or one per policy
/// with its own labels). **Thread safety:** `on` from any number of threads at once, lock-free.
/// **Allocation:** none per event. **Complexity:** a counter event is one thread-local read and
/// one relaxed load + store on the thread's own cache line; a histogram event adds a linear
/// search over the bucket bounds. **Lifetime:** the registry must outlive the listener.
class metrics_listener {
public:
    explicit metrics_listener(detail::metric_block& b) noexcept
        : b_(&b) {}
    /// A listener bound to no registry: its events go to a process-wide series that no
    /// registry exports (so that policies holding one can be default-made).
    metrics_listener()
        : b_(&unbound()) {}

    // retry
    void on(const events::retry_attempt& e) noexcept {
        b_->add(detail::w_retry_retries);
        b_->observe(detail::h_retry_delay, e.delay);
    }
    void on(const events::retry_give_up& e) noexcept {
        const auto why = static_cast<std::size_t>(e.why);
        b_->add(detail::w_retry_give_up0 + (why < 6 ? why : 0));
    }
    void on(const events::retry_budget_refused&) noexcept {
        b_->add(detail::w_retry_budget_refused);
    }
    void on(const events::retry_completed& e) noexcept {
        const bool retried = e.attempts > 1;
        b_->add(e.succeeded
                    ? (retried ? detail::w_retry_ok_retried : detail::w_retry_ok_first)
                    : (retried ? detail::w_retry_failed_retried : detail::w_retry_failed_first));
    }
    // breaker
    void on(const events::breaker_state_changed& e) noexcept {
        b_->breaker_state.store(static_cast<std::uint8_t>(e.to), std::memory_order_relaxed);
        b_->breaker_failure_rate.store(std::bit_cast<std::uint64_t>(e.failure_rate),
                                       std::memory_order_relaxed);
        b_->breaker_slow_rate.store(std::bit_cast<std::uint64_t>(e.slow_call_rate),
                                    std::memory_order_relaxed);
        b_->add(detail::w_breaker_transitions);
    }
    void on(const events::breaker_rejected&) noexcept { b_->add(detail::w_breaker_rejected); }
    void on(const events::breaker_call& e) noexcept {
        b_->add(detail::w_breaker_successful + static_cast<std::size_t>(e.kind) % 3);
    }
    // timeout
    void on(const events::timeout_expired& e) noexcept {
        b_->add(e.kind == events::timeout_kind::total ? detail::w_timeout_total
                                                      : detail::w_timeout_attempt);
    }
    void on(const events::timeout_stop_requested&) noexcept { b_->add(detail::w_timeout_stop); }
    // bulkhead, rate limiter
    void on(const events::bulkhead_rejected&) noexcept { b_->add(detail::w_bulkhead_rejected); }
    void on(const events::bulkhead_queued&) noexcept { b_->add(detail::w_bulkhead_queued); }
    void on(const events::bulkhead_waited& e) noexcept {
        b_->observe(detail::h_bulkhead_wait, e.waited);
    }
    void on(const events::rate_limiter_rejected&) noexcept { b_->add(detail::w_rl_rejected); }
    void on(const events::rate_limiter_queued&) noexcept { b_->add(detail::w_rl_queued); }
    void on(const events::rate_limiter_waited& e) noexcept {
        b_->observe(detail::h_rl_wait, e.waited);
    }
    // hedge, fallback
    void on(const events::hedge_started&) noexcept { b_->add(detail::w_hedge_started); }
    void on(const events::hedge_winner& e) noexcept {
        b_->add(e.index == 0 ? detail::w_hedge_primary : detail::w_hedge_hedge);
    }
    void on(const events::fallback_used&) noexcept { b_->add(detail::w_fallback_used); }
    // balance
    void on(const events::balance_picked&) noexcept { b_->add(detail::w_balance_picks); }
    void on(const events::balance_ejected&) noexcept { b_->add(detail::w_balance_ejections); }
    void on(const events::balance_returned&) noexcept { b_->add(detail::w_balance_returns); }
    void on(const events::balance_panic& e) noexcept {
        if (e.entered)
            b_->add(detail::w_balance_panics);
        b_->panic.store(e.entered, std::memory_order_relaxed);
    }
    // channels
    void on(const events::channel_published&) noexcept { b_->add(detail::w_channel_published); }
    void on(const events::channel_delivered&) noexcept { b_->add(detail::w_channel_delivered); }
    void on(const events::channel_nacked&) noexcept { b_->add(detail::w_channel_nacked); }
    void on(const events::channel_redelivered&) noexcept { b_->add(detail::w_channel_redelivered); }
    void on(const events::channel_redelivery_scheduled&) noexcept {
        b_->add(detail::w_channel_redelivery_scheduled);
    }
    void on(const events::channel_dead_lettered& e) noexcept {
        const auto k = static_cast<std::size_t>(e.kind);
        b_->add(detail::w_channel_dead0 + (k < 4 ? k : 2)); // an unknown kind counts as failed
    }
    void on(const events::channel_dropped&) noexcept { b_->add(detail::w_channel_dropped); }
    void on(const events::channel_duplicate_dropped&) noexcept {
        b_->add(detail::w_channel_duplicates);
    }
    // transports
    void on(const events::transport_connected&) noexcept {
        b_->add(detail::w_transport_connects);
        b_->connected.store(true, std::memory_order_relaxed);
    }
    void on(const events::transport_disconnected&) noexcept {
        b_->add(detail::w_transport_disconnects);
        b_->connected.store(false, std::memory_order_relaxed);
    }
    void on(const events::transport_reconnected&) noexcept {
        b_->add(detail::w_transport_reconnects);
        b_->connected.store(true, std::memory_order_relaxed);
    }

    /// What this series counted so far (allocates: cold path).
    series_snapshot snapshot() const { return b_->snapshot(); }
    const series_labels& labels() const noexcept { return b_->labels(); }

private:
    static detail::metric_block& unbound() {
        static detail::metric_block b({}, metric_group::none, {}, 1);
        return b;
    }

    detail::metric_block* b_;
};

static_assert(sizeof(metrics_listener) == sizeof(void*), "a metrics listener is one pointer");

/// Owns the series of an application's metrics; makes their listeners and snapshots them.
///
/// **Failure semantics:** bad options throw `invalid_argument_error` at construction.
/// **Thread safety:** every member is thread-safe; `listener()` takes a mutex (cold: call it
/// when you build your pipelines, not per call). **Allocation:** one block per series, at
/// `listener()`; none per event. **Lifetime:** listeners refer to the registry; it must outlive
/// them.
class metrics_registry {
public:
    explicit metrics_registry(metrics_options o = {})
        : opts_(std::move(o)) {
        const auto& b = opts_.buckets;
        detail::require(b.size() <= 32, "metrics_registry", "buckets", "at most 32 bounds",
                        b.size());
        for (std::size_t i = 0; i < b.size(); ++i) {
            detail::require(std::isfinite(b[i]) && b[i] >= 1e-9 && b[i] <= 9.2e9,
                            "metrics_registry", "buckets",
                            "finite seconds in [1e-9, 9.2e9] (whole nanoseconds)", b[i]);
            detail::require(i == 0 || b[i] > b[i - 1], "metrics_registry", "buckets",
                            "strictly increasing", b[i]);
        }
        detail::require(opts_.stripes <= detail::max_metric_slots, "metrics_registry", "stripes",
                        "<= 64", opts_.stripes);
        if (opts_.stripes == 0) {
            unsigned hw = std::thread::hardware_concurrency() * 2;
            opts_.stripes = hw < 4 ? 4 : (hw > 64 ? 64 : hw);
        }
    }
    metrics_registry(const metrics_registry&) = delete;
    metrics_registry& operator=(const metrics_registry&) = delete;

    /// The listener of the series with `labels` (made on first use; the same labels give the
    /// same series). `declared` groups are exported even before their first event.
    metrics_listener listener(series_labels labels, metric_group declared = metric_group::none) {
        std::lock_guard lock(mu_);
        for (auto& b : blocks_)
            if (b->labels() == labels) {
                b->declare(declared);
                return metrics_listener{*b};
            }
        blocks_.push_back(std::make_unique<detail::metric_block>(std::move(labels), declared,
                                                                 opts_.buckets, opts_.stripes));
        return metrics_listener{*blocks_.back()};
    }

    /// Every series, at one moment (each counter read once; allocates).
    metrics_snapshot snapshot() const {
        metrics_snapshot s;
        std::lock_guard lock(mu_);
        s.series.reserve(blocks_.size());
        for (const auto& b : blocks_)
            s.series.push_back(b->snapshot());
        return s;
    }

    const metrics_options& options() const noexcept { return opts_; }

private:
    metrics_options opts_;
    mutable std::mutex mu_;
    std::vector<std::unique_ptr<detail::metric_block>> blocks_;
};

} // namespace bulwark
