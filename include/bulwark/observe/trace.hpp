#pragma once
/// \file
/// W3C Trace Context for calls and messages: a `span` creates or continues a `traceparent`
/// (keeping `tracestate`), writes its own into the context's headers for the call's downstream
/// hops, and reports `events::span_started` / `events::span_ended` to a listener, which forwards
/// them to the tracer you already use.
///
/// ```cpp
/// auto client = bulwark::pipeline{bulwark::basic_traced<my_tracer>{.name = "GET /users",
///                                                                   .listener = tracer},
///                                 bulwark::retry{}, ...};
/// // messages: producer and consumer spans linked through the envelope's traceparent
/// auto s = bulwark::publish_span(md, "orders.created", tracer, &ctx);     // sets md.trace
/// auto c = bulwark::process_span(received_md, "orders.created", tracer);  // same trace id
/// ```
/// Follows W3C Trace Context Level 1 (`traceparent` version 00, 55 lowercase characters; a
/// higher version is read at the same offsets; an invalid one starts a new trace and drops
/// `tracestate`) and OpenTelemetry's span kinds and messaging attributes.

#include <bulwark/channel/envelope.hpp>
#include <bulwark/core/context.hpp>
#include <bulwark/core/headers.hpp>
#include <bulwark/core/outcome.hpp>
#include <bulwark/core/policy.hpp>
#include <bulwark/detail/hash.hpp>
#include <bulwark/observe/events.hpp>
#include <bulwark/observe/listener.hpp>
#include <bulwark/runtime/task.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace bulwark {

/// Trace-flags bits a span keeps when it continues a trace (sampled, Level 2 random-trace-id);
/// other bits must be sent as 0.
inline constexpr std::uint8_t trace_flags_kept = 0x03;
/// The sampled bit.
inline constexpr std::uint8_t trace_flag_sampled = 0x01;

/// Parses a `traceparent` header strictly: version 00 is exactly 55 characters of lowercase hex
/// and dashes; a higher version (not `ff`) needs at least 55 and a `-` after the flags, and is
/// read at version 00's offsets. All-zero ids are invalid. Returns an invalid (nil) context on
/// any error: the receiver then starts a new trace.
inline traceparent parse_traceparent(std::string_view s) noexcept {
    auto lhex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
    if (s.size() < 55 || !lhex(s[0]) || !lhex(s[1]) || s.substr(0, 2) == "ff")
        return {};
    const bool v00 = s[0] == '0' && s[1] == '0';
    if (v00 ? s.size() != 55 : (s.size() > 55 && s[55] != '-'))
        return {};
    if (s[2] != '-' || s[35] != '-' || s[52] != '-')
        return {};
    for (std::size_t i = 3; i < 55; ++i)
        if (i != 35 && i != 52 && !lhex(s[i]))
            return {};
    traceparent tp;
    std::uint64_t hi = 0, lo = 0, parent = 0, flags = 0;
    detail::read_hex64(s.substr(3, 16), hi);
    detail::read_hex64(s.substr(19, 16), lo);
    detail::read_hex64(s.substr(36, 16), parent);
    detail::read_hex64(s.substr(53, 2), flags);
    tp.trace_id = message_id{hi, lo};
    tp.parent_id = parent;
    tp.flags = static_cast<std::uint8_t>(flags);
    return tp.valid() ? tp : traceparent{};
}

/// True when `s` is a well-formed `tracestate` (W3C Level 1): at most 32 comma-separated
/// `key=value` members (optional spaces around members, empty members allowed); keys are
/// `lcalpha (lcalpha / digit / _ - * /){0,255}` or `tenant@system` (system up to 14 characters);
/// values 1-256 printable ASCII without `,` and `=`, not ending in a space.
inline bool valid_tracestate(std::string_view s) noexcept {
    std::size_t members = 0;
    while (true) {
        const std::size_t comma = s.find(',');
        std::string_view m = s.substr(0, comma);
        while (!m.empty() && (m.front() == ' ' || m.front() == '\t'))
            m.remove_prefix(1);
        while (!m.empty() && (m.back() == ' ' || m.back() == '\t'))
            m.remove_suffix(1);
        if (!m.empty()) {
            if (++members > 32)
                return false;
            const std::size_t eq = m.find('=');
            if (eq == std::string_view::npos || eq == 0)
                return false;
            const std::string_view key = m.substr(0, eq), value = m.substr(eq + 1);
            auto kchar = [](char c) {
                return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                       c == '*' || c == '/';
            };
            const std::size_t at = key.find('@');
            const std::string_view tenant = key.substr(0, at);
            if (key.size() > 256 || tenant.empty() ||
                !((tenant[0] >= 'a' && tenant[0] <= 'z') ||
                  (at != std::string_view::npos && tenant[0] >= '0' && tenant[0] <= '9')))
                return false;
            if (!std::all_of(tenant.begin(), tenant.end(), kchar))
                return false;
            if (at != std::string_view::npos) {
                const std::string_view system = key.substr(at + 1);
                if (tenant.size() > 241 || system.empty() || system.size() > 14 ||
                    !(system[0] >= 'a' && system[0] <= 'z') ||
                    !std::all_of(system.begin(), system.end(), kchar))
                    return false;
            }
            if (value.empty() || value.size() > 256 || value.back() == ' ')
                return false;
            for (char c : value)
                if (c < 0x20 || c > 0x7e || c == ',' || c == '=')
                    return false;
        }
        if (comma == std::string_view::npos)
            return true;
        s.remove_prefix(comma + 1);
    }
}

namespace detail {

/// A new 64-bit span id: unique within the process (a bijective mix of a unique message id),
/// unpredictable across processes, never 0.
inline std::uint64_t new_span_id() noexcept {
    const message_id u = message_id::generate();
    const std::uint64_t id = mix64(u.lo ^ mix64(u.hi));
    return id == 0 ? 1 : id;
}

/// A new 128-bit trace id (never nil).
inline message_id new_trace_id() noexcept {
    const message_id u = message_id::generate();
    return {u.hi, mix64(u.lo ^ u.hi) | 1};
}

/// Short names of `errc` for the OTel `error.type` attribute (low cardinality).
inline std::string_view errc_name(errc e) noexcept {
    const std::string_view n = to_string(e); // the one table of errc names (core/error.hpp)
    return n == "unknown" ? std::string_view{"_OTHER"} : n;
}

} // namespace detail

/// One span: its W3C ids, timing and attributes; reports `span_started` when made and
/// `span_ended` when it ends (at `end()` or destruction) to `Listener`.
///
/// Made from a `context`, it continues the context's `traceparent` header (or starts a trace)
/// and writes its own `traceparent` there, so everything the call sends while the span is open
/// names this span as its parent; ending restores the previous header. Made from a
/// `traceparent`, it continues that one (messages).
///
/// **Allocation:** none (attributes and the name are kept inline: up to `max_attributes`
/// attributes, the name truncated to `max_name` characters; the context's headers stay inline
/// while small). **Thread safety:** a span belongs to one thread at a time.
/// **Lifetime:** attribute texts given as `std::string_view` must outlive the span; the listener
/// must outlive it.
template <class Listener = null_listener>
class span {
public:
    static constexpr std::size_t max_attributes = 8;
    static constexpr std::size_t max_name = 96;

    /// A span continuing `parent` (a new trace when `parent` is invalid).
    span(std::string_view name, events::span_kind kind, const traceparent& parent,
         Listener& listener)
        : listener_(&listener)
        , kind_(kind) {
        set_name(name);
        begin(parent);
    }

    /// A span for a call: continues `ctx`'s `traceparent` header (dropping `tracestate` when the
    /// traceparent is missing or invalid, as W3C requires) and writes its own until it ends.
    span(std::string_view name, events::span_kind kind, context& ctx, Listener& listener)
        : listener_(&listener)
        , kind_(kind)
        , headers_(&ctx.headers()) {
        set_name(name);
        traceparent parent{};
        if (auto h = headers_->get(header::traceparent)) {
            had_previous_ = h->size() == 55;
            if (had_previous_)
                std::memcpy(previous_.data(), h->data(), 55);
            parent = parse_traceparent(*h);
        }
        if (!parent.valid()) {
            headers_->erase(header::tracestate);
        } else if (auto st = headers_->get(header::tracestate); st && !valid_tracestate(*st)) {
            headers_->erase(header::tracestate); // a bad tracestate never voids the traceparent
        }
        begin(parent);
        const auto text = context_out().text();
        headers_->set(header::traceparent, {text.data(), text.size()});
    }

    /// Moves the open span (the moved-from span ends nothing and reports nothing).
    span(span&& o) noexcept
        : span(static_cast<const span&>(o)) {
        o.ended_ = true;
    }
    span& operator=(span&&) = delete;
    ~span() { end(); }

    /// The traceparent to send downstream: this span as the parent.
    traceparent context_out() const noexcept {
        traceparent tp;
        tp.trace_id = trace_id_;
        tp.parent_id = span_id_;
        tp.flags = flags_;
        return tp;
    }
    message_id trace_id() const noexcept { return trace_id_; }
    std::uint64_t span_id() const noexcept { return span_id_; }
    /// The parent span's id; 0 for a root span.
    std::uint64_t parent_span_id() const noexcept { return parent_id_; }
    std::uint8_t flags() const noexcept { return flags_; }

    /// Adds a text attribute (ignored beyond `max_attributes`).
    void attribute(std::string_view key, std::string_view value) noexcept {
        if (count_ < max_attributes)
            attrs_[count_++] = {key, value, 0, false};
    }
    /// Adds a number attribute.
    void attribute(std::string_view key, std::int64_t value) noexcept {
        if (count_ < max_attributes)
            attrs_[count_++] = {key, {}, value, true};
    }
    /// Marks the span failed (OTel status Error) with a low-cardinality `error.type`.
    void fail(std::string_view error_type) noexcept {
        error_ = true;
        error_type_ = error_type;
    }

    /// Ends the span now (later calls do nothing): reports `span_ended` and restores the
    /// context's previous traceparent.
    void end() noexcept {
        if (ended_)
            return;
        ended_ = true;
        if (headers_ != nullptr) {
            try {
                if (had_previous_)
                    headers_->set(header::traceparent, {previous_.data(), previous_.size()});
                else
                    headers_->erase(header::traceparent);
            } catch (...) { // header_map spilled to the heap and allocation failed: keep ours
            }
        }
        if constexpr (hears<Listener, events::span_ended>) {
            events::span_ended e;
            e.name = name();
            e.kind = kind_;
            e.trace_id_hi = trace_id_.hi;
            e.trace_id_lo = trace_id_.lo;
            e.span_id = span_id_;
            e.parent_span_id = parent_id_;
            e.flags = flags_;
            e.start = start_;
            e.end = std::chrono::system_clock::now();
            e.error = error_;
            e.error_type = error_type_;
            e.attributes = attrs_.data();
            e.attribute_count = count_;
            emit(*listener_, e);
        }
    }

    std::string_view name() const noexcept { return {name_.data(), name_len_}; }

private:
    span(const span&) = default; // for the move constructor only

    static constexpr bool timed =
        hears<Listener, events::span_started> || hears<Listener, events::span_ended>;

    void set_name(std::string_view n) noexcept {
        name_len_ = std::min(n.size(), max_name);
        std::memcpy(name_.data(), n.data(), name_len_);
    }

    void begin(const traceparent& parent) noexcept {
        if (parent.valid()) {
            trace_id_ = parent.trace_id;
            parent_id_ = parent.parent_id;
            flags_ = parent.flags & trace_flags_kept;
        } else {
            trace_id_ = detail::new_trace_id();
            parent_id_ = 0;
            flags_ = trace_flag_sampled;
        }
        span_id_ = detail::new_span_id();
        if constexpr (timed)
            start_ = std::chrono::system_clock::now();
        if constexpr (hears<Listener, events::span_started>)
            emit(*listener_, events::span_started{name(), kind_, trace_id_.hi, trace_id_.lo,
                                                  span_id_, parent_id_, flags_, start_});
    }

    Listener* listener_;
    events::span_kind kind_;
    header_map* headers_ = nullptr;
    bool had_previous_ = false;
    bool ended_ = false;
    bool error_ = false;
    std::uint8_t flags_ = 0;
    std::array<char, 55> previous_;
    message_id trace_id_{};
    std::uint64_t span_id_ = 0;
    std::uint64_t parent_id_ = 0;
    std::chrono::system_clock::time_point start_{};
    std::string_view error_type_{};
    std::array<events::span_attribute, max_attributes> attrs_{};
    std::size_t count_ = 0;
    std::array<char, max_name> name_;
    std::size_t name_len_ = 0;
};

/// A policy that runs the rest of the pipeline inside a span: continues the context's trace (or
/// starts one), so every hop the call makes carries this span as the parent; marks the span
/// failed on a failure outcome (`error.type` = the `errc` name).
///
/// **Allocation:** none. **Thread safety:** as the listener. Put it first (outermost) for one
/// span per logical call, or inside a retry for one span per attempt (OTel HTTP: one span per
/// wire attempt, with `http.request.resend_count`).
template <class Listener = null_listener>
struct basic_traced {
    /// The span name (OTel: `{method} {url.template}` for HTTP, `{operation} {destination}` for
    /// messaging; never a raw path with ids).
    std::string_view name = "call";
    events::span_kind span_kind = events::span_kind::client;
    [[no_unique_address]] Listener listener{};

    template <class Next>
    next_result_t<Next> execute(Next&& next, context& ctx) {
        span<Listener> s(name, span_kind, ctx, listener);
        if (ctx.attempt() > 1)
            s.attribute("http.request.resend_count", std::int64_t{ctx.attempt() - 1});
        next_result_t<Next> out = next(ctx);
        if constexpr (requires { out.has_failure(); })
            if (out.has_failure())
                s.fail(detail::errc_name(out.error().code));
        return out;
    }

    template <class Next>
    next_result_t<Next> async_execute(Next&& next, context& ctx) {
        span<Listener> s(name, span_kind, ctx, listener);
        auto out = co_await next(ctx);
        if (out.has_failure())
            s.fail(detail::errc_name(out.error().code));
        co_return out;
    }
};

/// The tracing policy with no listener: propagates trace context (headers) without reporting.
using traced = basic_traced<>;

static_assert(async_policy<traced>);
static_assert(sizeof(traced) <= sizeof(std::string_view) + alignof(std::string_view),
              "the null listener takes no room in basic_traced");

/// The producer side of a message: a `producer` span (OTel messaging `create`/`send`) for
/// publishing to `subject`, a child of `ctx`'s current span when given, else of the message's
/// own trace (when `md.trace` is valid), else a new trace; sets `md.trace` to this span so the
/// consumer links to it (then `to_headers(md, ...)` carries it).
template <class Listener>
span<Listener> publish_span(message_metadata& md, std::string_view subject, Listener& l,
                            const context* ctx = nullptr, std::string_view system = "bulwark") {
    traceparent parent = md.trace;
    if (ctx != nullptr)
        if (auto h = ctx->headers().get(header::traceparent))
            if (auto p = parse_traceparent(*h); p.valid())
                parent = p;
    char buf[span<Listener>::max_name];
    std::size_t n = 0;
    auto put = [&](std::string_view s) {
        const std::size_t k = std::min(s.size(), sizeof buf - n);
        std::memcpy(buf + n, s.data(), k);
        n += k;
    };
    put("publish ");
    put(subject);
    span<Listener> s({buf, n}, events::span_kind::producer, parent, l);
    s.attribute("messaging.system", system);
    s.attribute("messaging.operation.type", "send");
    s.attribute("messaging.operation.name", "publish");
    s.attribute("messaging.destination.name", subject);
    md.trace = s.context_out();
    return s;
}

/// The consumer side: a `consumer` span (OTel messaging `process`) continuing the message's
/// trace: same trace id, parent = the producer's span.
template <class Listener>
span<Listener> process_span(const message_metadata& md, std::string_view subject, Listener& l,
                            std::string_view system = "bulwark") {
    char buf[span<Listener>::max_name];
    std::size_t n = 0;
    auto put = [&](std::string_view s) {
        const std::size_t k = std::min(s.size(), sizeof buf - n);
        std::memcpy(buf + n, s.data(), k);
        n += k;
    };
    put("process ");
    put(subject);
    span<Listener> s({buf, n}, events::span_kind::consumer, md.trace, l);
    s.attribute("messaging.system", system);
    s.attribute("messaging.operation.type", "process");
    s.attribute("messaging.operation.name", "process");
    s.attribute("messaging.destination.name", subject);
    return s;
}

} // namespace bulwark
