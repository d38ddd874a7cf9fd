#pragma once
/// \file
/// `envelope<T>`: a message with its metadata — message id, correlation id, causation id,
/// timestamp, headers and W3C trace context — as handlers that ask for it see it.
///
/// Conventions (MassTransit / NServiceBus headers, Greg Young's correlation/causation): a root
/// message has `correlation_id == id` and no causation id; a message published because of
/// another (`caused_by(parent)`) keeps the parent's correlation id and trace id, and takes the
/// parent's id as its causation id. All of it round-trips through text headers
/// (`to_headers` / `from_headers`), so a transport carries it unchanged.

#include <bulwark/channel/detail/ids.hpp>
#include <bulwark/core/headers.hpp>
#include <bulwark/core/outcome.hpp>

#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace bulwark {

/// A 128-bit message id, unique within a process (per-thread prefix + counter) and random across
/// processes. Text form: 32 lowercase hex digits (the shape of a W3C trace-id).
///
/// **Allocation:** none (`text()` returns a fixed array). **Thread safety:** `generate` is
/// lock-free and wait-free after a thread's first call.
struct message_id {
    std::uint64_t hi = 0;
    std::uint64_t lo = 0;

    /// A new unique id (never nil).
    static message_id generate() noexcept {
        message_id id;
        detail::next_id(id.hi, id.lo);
        return id;
    }
    /// The nil id (no id).
    bool is_nil() const noexcept { return hi == 0 && lo == 0; }
    explicit operator bool() const noexcept { return !is_nil(); }

    /// The 32 hex digits, without allocating.
    std::array<char, 32> text() const noexcept {
        std::array<char, 32> t{};
        detail::write_hex64(t.data(), hi);
        detail::write_hex64(t.data() + 16, lo);
        return t;
    }
    std::string to_string() const { return {text().data(), 32}; }

    /// Parses 32 hex digits; an empty or malformed text gives the nil id.
    static message_id parse(std::string_view s) noexcept {
        message_id id;
        if (s.size() != 32 || !detail::read_hex64(s.substr(0, 16), id.hi) ||
            !detail::read_hex64(s.substr(16), id.lo))
            return {};
        return id;
    }

    friend bool operator==(const message_id&, const message_id&) = default;
};

/// W3C Trace Context `traceparent` (version 00): `00-<trace-id:32 hex>-<parent-id:16 hex>-<flags>`.
struct traceparent {
    message_id trace_id{};       ///< 16 bytes; nil = no trace context
    std::uint64_t parent_id = 0; ///< 8 bytes: the span that produced this message
    std::uint8_t flags = 0;      ///< bit 0: sampled

    bool valid() const noexcept { return !trace_id.is_nil() && parent_id != 0; }

    /// The 55-character header value, without allocating.
    std::array<char, 55> text() const noexcept {
        std::array<char, 55> t{};
        t[0] = '0';
        t[1] = '0';
        t[2] = '-';
        auto id = trace_id.text();
        for (std::size_t i = 0; i < 32; ++i)
            t[3 + i] = id[i];
        t[35] = '-';
        detail::write_hex64(t.data() + 36, parent_id);
        t[52] = '-';
        t[53] = detail::hex_digits[flags >> 4];
        t[54] = detail::hex_digits[flags & 0xf];
        return t;
    }
    std::string to_string() const { return {text().data(), 55}; }

    /// Parses a `traceparent` header; returns an invalid (nil) context on malformed input, as
    /// W3C requires receivers to ignore a bad traceparent. Hex must be lower-case. Version `00`
    /// is exactly 55 characters; a higher version (not `ff`, which is invalid) may carry more
    /// fields after a `-`, which are ignored (forward-compatible parsing).
    static traceparent parse(std::string_view s) noexcept {
        auto lower_hex = [](std::string_view h, std::uint64_t& v) noexcept {
            v = 0;
            for (char c : h) {
                int d = (c >= '0' && c <= '9')   ? c - '0'
                        : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                                                 : -1;
                if (d < 0)
                    return false;
                v = (v << 4) | static_cast<std::uint64_t>(d);
            }
            return true;
        };
        std::uint64_t version = 0, flags = 0, hi = 0, lo = 0;
        if (s.size() < 55 || !lower_hex(s.substr(0, 2), version) || version == 0xff ||
            s[2] != '-' || s[35] != '-' || s[52] != '-')
            return {};
        if (version == 0 ? s.size() != 55 : (s.size() > 55 && s[55] != '-'))
            return {};
        traceparent tp;
        if (!lower_hex(s.substr(3, 16), hi) || !lower_hex(s.substr(19, 16), lo) ||
            !lower_hex(s.substr(36, 16), tp.parent_id) || !lower_hex(s.substr(53, 2), flags))
            return {};
        tp.trace_id = message_id{hi, lo};
        if (!tp.valid())
            return {};
        tp.flags = static_cast<std::uint8_t>(flags);
        return tp;
    }

    friend bool operator==(const traceparent&, const traceparent&) = default;
};

/// The metadata of one message. Fields left empty are filled by `stamp` (and so by `publish`).
///
/// **Allocation:** none while the headers stay inline (`header_map`).
struct message_metadata {
    message_id id{};
    message_id correlation_id{};
    message_id causation_id{};
    std::chrono::system_clock::time_point timestamp{};
    header_map headers{};
    traceparent trace{};
};

/// Fills the missing fields of `md`: a new id, correlation id = id (a root message), the current
/// wall-clock time, and a new trace (trace id derived from the message id) when there is none.
inline void stamp(message_metadata& md) noexcept {
    if (md.id.is_nil())
        md.id = message_id::generate();
    if (md.correlation_id.is_nil())
        md.correlation_id = md.id;
    if (md.timestamp == std::chrono::system_clock::time_point{})
        md.timestamp = std::chrono::system_clock::now();
    if (!md.trace.valid()) {
        // W3C wants random-looking trace ids: mix the counter half (a bijection: still unique).
        md.trace.trace_id = {md.id.hi, detail::mix64(md.id.lo ^ md.id.hi)};
        md.trace.parent_id = detail::mix64(md.id.lo ^ md.id.hi) | 1;
    }
}

/// Metadata for a message published because of `parent`: same correlation id and trace id,
/// causation id = the parent's id, a new span id; the new id and timestamp come from `stamp`.
inline message_metadata caused_by(const message_metadata& parent) noexcept {
    message_metadata md;
    md.correlation_id = parent.correlation_id ? parent.correlation_id : parent.id;
    md.causation_id = parent.id;
    if (parent.trace.valid()) {
        md.trace.trace_id = parent.trace.trace_id;
        md.trace.flags = parent.trace.flags;
        md.id = message_id::generate();
        md.trace.parent_id = detail::mix64(md.id.lo ^ md.id.hi) | 1;
    }
    return md;
}

/// A message and its metadata, as a handler that takes `const bulwark::envelope<T>&` sees it.
///
/// A view: it refers to the message and metadata of the current delivery and must not outlive
/// the handler call (copy the message or the metadata to keep them).
template <class T>
class envelope {
public:
    envelope(const T& message, const message_metadata& md) noexcept
        : msg_(&message)
        , md_(&md) {}

    const T& message() const noexcept { return *msg_; }
    const message_metadata& metadata() const noexcept { return *md_; }
    message_id id() const noexcept { return md_->id; }
    message_id correlation_id() const noexcept { return md_->correlation_id; }
    message_id causation_id() const noexcept { return md_->causation_id; }
    std::chrono::system_clock::time_point timestamp() const noexcept { return md_->timestamp; }
    const header_map& headers() const noexcept { return md_->headers; }
    const traceparent& trace() const noexcept { return md_->trace; }

private:
    const T* msg_;
    const message_metadata* md_;
};

/// Header name of the timestamp (Unix time in nanoseconds, decimal).
inline constexpr std::string_view timestamp_header = "timestamp";

/// Writes the metadata's fields into `out` as text headers (`message-id`, `correlation-id`,
/// `causation-id` when set, `timestamp`, `traceparent`), after copying `md.headers`.
inline void to_headers(const message_metadata& md, header_map& out) {
    md.headers.for_each([&](std::string_view k, std::string_view v) { out.set(k, v); });
    auto id = md.id.text();
    out.set(header::message_id, {id.data(), id.size()});
    auto corr = md.correlation_id.text();
    out.set(header::correlation_id, {corr.data(), corr.size()});
    if (md.causation_id) {
        auto cause = md.causation_id.text();
        out.set(header::causation_id, {cause.data(), cause.size()});
    }
    char ts[24];
    auto r = std::to_chars(
        ts, ts + sizeof ts,
        std::chrono::duration_cast<std::chrono::nanoseconds>(md.timestamp.time_since_epoch())
            .count());
    out.set(timestamp_header, {ts, static_cast<std::size_t>(r.ptr - ts)});
    if (md.trace.valid()) {
        auto tp = md.trace.text();
        out.set(header::traceparent, {tp.data(), tp.size()});
    }
}

/// Reads metadata back from text headers; the known headers become fields, the others stay in
/// `headers`. A malformed `message-id`, `correlation-id`, `causation-id` (not 32 hex digits, or
/// all zeros: the nil id means "absent" and is never taken from the wire) or `timestamp` (not
/// all digits, or beyond 64 bits) is a `errc::decode_error`; a malformed `traceparent` is
/// dropped (W3C).
inline outcome<message_metadata> from_headers(const header_map& in) {
    message_metadata md;
    bool bad = false;
    in.for_each([&](std::string_view k, std::string_view v) {
        auto is = [&](std::string_view name) {
            if (k.size() != name.size())
                return false;
            for (std::size_t i = 0; i < k.size(); ++i)
                if ((k[i] | 0x20) != (name[i] | 0x20))
                    return false;
            return true;
        };
        // An id header that is present must parse: a garbage value is a decode error, never a
        // silent nil (which would make the message look like a root message).
        auto id = [&](message_id& out) {
            out = message_id::parse(v);
            bad = bad || out.is_nil();
        };
        if (is(header::message_id)) {
            id(md.id);
        } else if (is(header::correlation_id)) {
            id(md.correlation_id);
        } else if (is(header::causation_id)) {
            id(md.causation_id);
        } else if (is(header::traceparent)) {
            md.trace = traceparent::parse(v); // W3C: a bad traceparent is ignored, not an error
        } else if (is(timestamp_header)) {
            // Unix nanoseconds in a signed 64-bit integer: all digits, no overflow.
            long long ns = 0;
            auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), ns);
            if (v.empty() || ec != std::errc{} || end != v.data() + v.size()) {
                bad = true;
                return;
            }
            md.timestamp = std::chrono::system_clock::time_point{
                std::chrono::duration_cast<std::chrono::system_clock::duration>(
                    std::chrono::nanoseconds{ns})};
        } else {
            md.headers.set(k, v);
        }
    });
    if (bad)
        return errc::decode_error;
    return md;
}

} // namespace bulwark
