#pragma once
/// \file
/// Prometheus text exposition (format 0.0.4) of a `metrics_registry`, by our own writer: no
/// dependency, one pass over a snapshot into a `std::string` (or a stream) that you serve from
/// your own HTTP server, or from <bulwark/observe/prometheus_server.hpp>.
///
/// ```cpp
/// std::string body = bulwark::to_prometheus(registry);
/// // reply 200 with Content-Type: bulwark::prometheus_content_type
/// ```
///
/// Names follow Prometheus's conventions (`bulwark_` prefix, base units, `_total` counters,
/// `_seconds` histograms) and resilience4j's where a peer exists (`bulwark_breaker_state{state}`
/// one-hot, `bulwark_retry_calls_total{kind}`); docs/observability.md lists them all.

#include <bulwark/detail/validate.hpp>
#include <bulwark/observe/metrics.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <span>
#include <string>
#include <string_view>

namespace bulwark {

/// The Content-Type of the text format.
inline constexpr std::string_view prometheus_content_type =
    "text/plain; version=0.0.4; charset=utf-8";

/// One label of a sample.
struct prometheus_label {
    std::string_view name;
    std::string_view value;
};

/// A writer of the Prometheus text format 0.0.4: `family` writes `# HELP` and `# TYPE`, then
/// `sample` writes the family's lines (keep a family's samples together).
///
/// Escaping: HELP text escapes `\` and newline; label values escape `\`, `"` and newline.
/// Values: integers exactly; doubles in the shortest form that reads back, `NaN`, `+Inf`, `-Inf`.
/// **Failure semantics:** a metric or label name outside `[a-zA-Z_:][a-zA-Z0-9_:]*` (labels
/// without `:`) throws `invalid_argument_error`. **Allocation:** only the output string's growth.
class prometheus_writer {
public:
    explicit prometheus_writer(std::string& out) noexcept
        : out_(out) {}

    /// Starts a family: `type` is counter, gauge, histogram, summary or untyped.
    void family(std::string_view name, std::string_view help, std::string_view type) {
        check_name(name, true);
        out_.append("# HELP ").append(name).push_back(' ');
        for (char c : help) {
            if (c == '\\')
                out_.append("\\\\");
            else if (c == '\n')
                out_.append("\\n");
            else
                out_.push_back(c);
        }
        out_.append("\n# TYPE ").append(name).push_back(' ');
        out_.append(type).push_back('\n');
    }

    /// One sample line: `name{labels...,extra} value`.
    template <class V>
    void sample(std::string_view name, std::span<const prometheus_label> labels, V value,
                std::initializer_list<prometheus_label> extra = {}) {
        out_.append(name);
        bool first = true;
        auto put = [&](const prometheus_label& l) {
            out_.push_back(first ? '{' : ',');
            first = false;
            out_.append(l.name).append("=\"");
            for (char c : l.value) {
                if (c == '\\')
                    out_.append("\\\\");
                else if (c == '"')
                    out_.append("\\\"");
                else if (c == '\n')
                    out_.append("\\n");
                else
                    out_.push_back(c);
            }
            out_.push_back('"');
        };
        for (const auto& l : labels)
            put(l);
        for (const auto& l : extra)
            put(l);
        if (!first)
            out_.push_back('}');
        out_.push_back(' ');
        number(value);
        out_.push_back('\n');
    }

    /// Appends a value as the format wants it.
    void number(double v) {
        if (std::isnan(v)) {
            out_.append("NaN");
        } else if (std::isinf(v)) {
            out_.append(v > 0 ? "+Inf" : "-Inf");
        } else {
            char buf[32];
            auto r = std::to_chars(buf, buf + sizeof buf, v);
            out_.append(buf, r.ptr);
        }
    }
    void number(std::uint64_t v) {
        char buf[24];
        auto r = std::to_chars(buf, buf + sizeof buf, v);
        out_.append(buf, r.ptr);
    }
    void number(bool v) { out_.push_back(v ? '1' : '0'); }

    /// Throws unless `name` is a valid metric name (`metric`) or label name.
    static void check_name(std::string_view name, bool metric) {
        bool ok = !name.empty();
        for (std::size_t i = 0; ok && i < name.size(); ++i) {
            const char c = name[i];
            const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                               (metric && c == ':');
            ok = alpha || (i > 0 && c >= '0' && c <= '9');
        }
        detail::require(ok, "prometheus_writer", metric ? "metric name" : "label name",
                        metric ? "[a-zA-Z_:][a-zA-Z0-9_:]*" : "[a-zA-Z_][a-zA-Z0-9_]*", name);
    }

private:
    std::string& out_;
};

namespace detail {

inline constexpr std::string_view breaker_state_names[] = {
    "closed", "open", "half_open", "forced_open", "disabled", "metrics_only"};
inline constexpr std::string_view retry_stop_names[] = {"not_retryable", "attempts_exhausted",
                                                        "deadline",      "max_duration",
                                                        "stopped",       "budget_exhausted"};
inline constexpr std::string_view dead_letter_names[] = {"max_deliveries", "rejected", "failed",
                                                         "malformed"};

/// Writes one histogram's `_bucket` (cumulative, `le` increasing, `+Inf` = count), `_sum` and
/// `_count` lines.
inline void write_histogram(prometheus_writer& w, std::string_view name,
                            std::span<const prometheus_label> labels, const histogram_snapshot& h) {
    std::string bucket(name);
    bucket += "_bucket";
    char le[32];
    for (std::size_t i = 0; i < h.bounds.size(); ++i) {
        auto r = std::to_chars(le, le + sizeof le, h.bounds[i]);
        w.sample(bucket, labels, h.cumulative[i],
                 {{"le", std::string_view(le, static_cast<std::size_t>(r.ptr - le))}});
    }
    w.sample(bucket, labels, h.count, {{"le", "+Inf"}});
    w.sample(std::string(name) + "_sum", labels, h.sum);
    w.sample(std::string(name) + "_count", labels, h.count);
}

} // namespace detail

/// Appends the exposition of `snap` to `out`: one contiguous group per metric family, each series
/// labelled with its non-empty `pipeline`, `name` (the policy), `endpoint` and `topic`.
inline void write_prometheus(const metrics_snapshot& snap, std::string& out) {
    prometheus_writer w(out);
    std::vector<std::array<prometheus_label, 4>> label_store(snap.series.size());
    std::vector<std::span<const prometheus_label>> labels(snap.series.size());
    for (std::size_t i = 0; i < snap.series.size(); ++i) {
        const auto& l = snap.series[i].labels;
        std::size_t n = 0;
        auto add = [&](std::string_view k, const std::string& v) {
            if (!v.empty())
                label_store[i][n++] = {k, v};
        };
        add("pipeline", l.pipeline);
        add("name", l.policy);
        add("endpoint", l.endpoint);
        add("topic", l.topic);
        labels[i] = std::span<const prometheus_label>(label_store[i].data(), n);
    }
    // One family: HELP/TYPE once, then each series of the group through `each(series, labels)`.
    auto family = [&](metric_group g, std::string_view name, std::string_view help,
                      std::string_view type, auto each) {
        bool any = false;
        for (const auto& s : snap.series)
            any = any || has_group(s.groups, g);
        if (!any)
            return;
        w.family(name, help, type);
        for (std::size_t i = 0; i < snap.series.size(); ++i)
            if (has_group(snap.series[i].groups, g))
                each(snap.series[i], labels[i]);
    };
    using L = std::span<const prometheus_label>;
    using S = const series_snapshot&;
    constexpr auto R = metric_group::retry;
    family(R, "bulwark_retry_calls_total",
           "Calls through a retry, by kind (successful/failed, with/without retry).", "counter",
           [&](S s, L l) {
               w.sample("bulwark_retry_calls_total", l, s.retry.successful_without_retry,
                        {{"kind", "successful_without_retry"}});
               w.sample("bulwark_retry_calls_total", l, s.retry.successful_with_retry,
                        {{"kind", "successful_with_retry"}});
               w.sample("bulwark_retry_calls_total", l, s.retry.failed_without_retry,
                        {{"kind", "failed_without_retry"}});
               w.sample("bulwark_retry_calls_total", l, s.retry.failed_with_retry,
                        {{"kind", "failed_with_retry"}});
           });
    family(R, "bulwark_retry_retries_total", "Retries made (attempts after the first).", "counter",
           [&](S s, L l) { w.sample("bulwark_retry_retries_total", l, s.retry.retries); });
    family(R, "bulwark_retry_budget_refused_total", "Retries the retry budget refused.", "counter",
           [&](S s, L l) {
               w.sample("bulwark_retry_budget_refused_total", l, s.retry.budget_refused);
           });
    family(R, "bulwark_retry_give_ups_total", "Calls on which the retry stopped, by reason.",
           "counter", [&](S s, L l) {
               for (std::size_t i = 0; i < 6; ++i)
                   w.sample("bulwark_retry_give_ups_total", l, s.retry.give_ups[i],
                            {{"reason", detail::retry_stop_names[i]}});
           });
    family(R, "bulwark_retry_delay_seconds", "Waits before retries.", "histogram", [&](S s, L l) {
        detail::write_histogram(w, "bulwark_retry_delay_seconds", l, s.retry.delay);
    });

    constexpr auto B = metric_group::breaker;
    family(B, "bulwark_breaker_state", "Circuit breaker state (1 for the current state).", "gauge",
           [&](S s, L l) {
               for (std::uint8_t i = 0; i < 6; ++i)
                   w.sample("bulwark_breaker_state", l, s.breaker.state == i,
                            {{"state", detail::breaker_state_names[i]}});
           });
    family(B, "bulwark_breaker_calls_total", "Calls the breaker recorded, by kind.", "counter",
           [&](S s, L l) {
               w.sample("bulwark_breaker_calls_total", l, s.breaker.successful,
                        {{"kind", "successful"}});
               w.sample("bulwark_breaker_calls_total", l, s.breaker.failed, {{"kind", "failed"}});
               w.sample("bulwark_breaker_calls_total", l, s.breaker.ignored, {{"kind", "ignored"}});
           });
    family(B, "bulwark_breaker_not_permitted_calls_total", "Calls the breaker rejected.", "counter",
           [&](S s, L l) {
               w.sample("bulwark_breaker_not_permitted_calls_total", l, s.breaker.not_permitted);
           });
    family(
        B, "bulwark_breaker_transitions_total", "Breaker state changes.", "counter",
        [&](S s, L l) { w.sample("bulwark_breaker_transitions_total", l, s.breaker.transitions); });
    family(B, "bulwark_breaker_failure_ratio",
           "Failure ratio (0-1) of the window at the last state change.", "gauge",
           [&](S s, L l) { w.sample("bulwark_breaker_failure_ratio", l, s.breaker.failure_rate); });
    family(B, "bulwark_breaker_slow_call_ratio",
           "Slow-call ratio (0-1) of the window at the last state change.", "gauge", [&](S s, L l) {
               w.sample("bulwark_breaker_slow_call_ratio", l, s.breaker.slow_call_rate);
           });

    constexpr auto T = metric_group::timeout;
    family(T, "bulwark_timeout_expired_total", "Timeouts that fired, by kind (total, per_attempt).",
           "counter", [&](S s, L l) {
               w.sample("bulwark_timeout_expired_total", l, s.timeout.expired_total,
                        {{"kind", "total"}});
               w.sample("bulwark_timeout_expired_total", l, s.timeout.expired_per_attempt,
                        {{"kind", "per_attempt"}});
           });
    family(T, "bulwark_timeout_stop_requests_total",
           "Stops a timeout requested from the running operation.", "counter", [&](S s, L l) {
               w.sample("bulwark_timeout_stop_requests_total", l, s.timeout.stop_requested);
           });

    auto admission = [&](metric_group g, std::string_view prefix, std::string_view what, auto get) {
        const std::string rejected = std::string(prefix) + "_rejected_total";
        const std::string queued = std::string(prefix) + "_queued_total";
        const std::string wait = std::string(prefix) + "_wait_seconds";
        family(g, rejected, std::string("Calls the ") + std::string(what) + " rejected.", "counter",
               [&](S s, L l) { w.sample(rejected, l, get(s).rejected); });
        family(g, queued, std::string("Calls the ") + std::string(what) + " made wait.", "counter",
               [&](S s, L l) { w.sample(queued, l, get(s).queued); });
        family(g, wait, std::string("Waits in the ") + std::string(what) + " before running.",
               "histogram", [&](S s, L l) { detail::write_histogram(w, wait, l, get(s).wait); });
    };
    admission(
        metric_group::bulkhead, "bulwark_bulkhead", "bulkhead",
        [](S s) -> const auto& { return s.bulkhead; });
    admission(
        metric_group::rate_limiter, "bulwark_ratelimiter", "rate limiter",
        [](S s) -> const auto& { return s.rate_limiter; });

    constexpr auto H = metric_group::hedge;
    family(H, "bulwark_hedge_started_total", "Hedged attempts started.", "counter",
           [&](S s, L l) { w.sample("bulwark_hedge_started_total", l, s.hedge.started); });
    family(H, "bulwark_hedge_wins_total", "Hedged calls by the attempt that won.", "counter",
           [&](S s, L l) {
               w.sample("bulwark_hedge_wins_total", l, s.hedge.won_by_primary,
                        {{"winner", "primary"}});
               w.sample("bulwark_hedge_wins_total", l, s.hedge.won_by_hedge, {{"winner", "hedge"}});
           });
    family(metric_group::fallback, "bulwark_fallback_used_total", "Failures a fallback replaced.",
           "counter",
           [&](S s, L l) { w.sample("bulwark_fallback_used_total", l, s.fallback.used); });

    constexpr auto BL = metric_group::balance;
    family(BL, "bulwark_balance_picks_total", "Endpoints picked.", "counter",
           [&](S s, L l) { w.sample("bulwark_balance_picks_total", l, s.balance.picks); });
    family(BL, "bulwark_balance_ejections_total", "Endpoints ejected by outlier detection.",
           "counter",
           [&](S s, L l) { w.sample("bulwark_balance_ejections_total", l, s.balance.ejections); });
    family(BL, "bulwark_balance_returns_total", "Ejected endpoints returned to rotation.",
           "counter",
           [&](S s, L l) { w.sample("bulwark_balance_returns_total", l, s.balance.returns); });
    family(BL, "bulwark_balance_panics_total", "Times the balancer entered panic mode.", "counter",
           [&](S s, L l) { w.sample("bulwark_balance_panics_total", l, s.balance.panics); });
    family(BL, "bulwark_balance_panic", "1 while the balancer is in panic mode.", "gauge",
           [&](S s, L l) { w.sample("bulwark_balance_panic", l, s.balance.panic); });

    constexpr auto C = metric_group::channel;
    family(C, "bulwark_channel_published_total", "Messages published.", "counter",
           [&](S s, L l) { w.sample("bulwark_channel_published_total", l, s.channel.published); });
    family(C, "bulwark_channel_delivered_total", "Deliveries to handlers.", "counter",
           [&](S s, L l) { w.sample("bulwark_channel_delivered_total", l, s.channel.delivered); });
    family(C, "bulwark_channel_nacked_total", "Deliveries nacked (or thrown on).", "counter",
           [&](S s, L l) { w.sample("bulwark_channel_nacked_total", l, s.channel.nacked); });
    family(
        C, "bulwark_channel_redelivered_total", "Redeliveries handed to handlers.", "counter",
        [&](S s, L l) { w.sample("bulwark_channel_redelivered_total", l, s.channel.redelivered); });
    family(C, "bulwark_channel_redeliveries_scheduled_total",
           "Nacked messages scheduled for redelivery.", "counter", [&](S s, L l) {
               w.sample("bulwark_channel_redeliveries_scheduled_total", l,
                        s.channel.redeliveries_scheduled);
           });
    family(C, "bulwark_channel_dead_lettered_total", "Messages dead-lettered, by reason.",
           "counter", [&](S s, L l) {
               for (std::size_t i = 0; i < std::size(detail::dead_letter_names); ++i)
                   w.sample("bulwark_channel_dead_lettered_total", l, s.channel.dead_lettered[i],
                            {{"reason", detail::dead_letter_names[i]}});
           });
    family(C, "bulwark_channel_dropped_total", "Messages dropped by a full channel.", "counter",
           [&](S s, L l) { w.sample("bulwark_channel_dropped_total", l, s.channel.dropped); });
    family(C, "bulwark_channel_duplicates_dropped_total",
           "Duplicate messages the idempotent consumer dropped.", "counter", [&](S s, L l) {
               w.sample("bulwark_channel_duplicates_dropped_total", l,
                        s.channel.duplicates_dropped);
           });

    constexpr auto TR = metric_group::transport;
    family(TR, "bulwark_transport_connected", "1 while the transport is connected.", "gauge",
           [&](S s, L l) { w.sample("bulwark_transport_connected", l, s.transport.connected); });
    family(TR, "bulwark_transport_connects_total", "First connections.", "counter", [&](S s, L l) {
        w.sample("bulwark_transport_connects_total", l, s.transport.connects);
    });
    family(TR, "bulwark_transport_disconnects_total", "Connections lost.", "counter",
           [&](S s, L l) {
               w.sample("bulwark_transport_disconnects_total", l, s.transport.disconnects);
           });
    family(TR, "bulwark_transport_reconnects_total", "Connections regained.", "counter",
           [&](S s, L l) {
               w.sample("bulwark_transport_reconnects_total", l, s.transport.reconnects);
           });
}

/// The exposition of every series of `reg`.
inline std::string to_prometheus(const metrics_registry& reg) {
    std::string out;
    out.reserve(4096);
    write_prometheus(reg.snapshot(), out);
    return out;
}

/// Writes the exposition of every series of `reg` to `os`.
inline void write_prometheus(const metrics_registry& reg, std::ostream& os) {
    const std::string text = to_prometheus(reg);
    os.write(text.data(), static_cast<std::streamsize>(text.size()));
}

} // namespace bulwark
