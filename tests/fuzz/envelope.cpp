// Fuzz target: envelope metadata through text headers (channel/envelope.hpp).
//  (a) metadata -> to_headers -> from_headers gives the same metadata back;
//  (b) arbitrary headers -> from_headers follows a reference decoder: a malformed
//      `message-id`, `correlation-id`, `causation-id` (not 32 hex digits, or all zeros: the nil id
//      means "absent" and is never accepted from the wire) or `timestamp` (not a
//      decimal int64 of nanoseconds) is `errc::decode_error` — never a silent nil or 0 (issue 9
//      item 1); a malformed `traceparent` is ignored (W3C: receivers restart the trace); every
//      other header is kept; and what decodes re-encodes to the same metadata.
#include <bulwark/channel/envelope.hpp>

#include "fuzz_support.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace {

constexpr const char* target = "envelope";
using namespace std::string_view_literals;

bool iequal(std::string_view a, std::string_view b) {
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (((a[i] >= 'A' && a[i] <= 'Z') ? a[i] | 0x20 : a[i]) !=
            ((b[i] >= 'A' && b[i] <= 'Z') ? b[i] | 0x20 : b[i]))
            return false;
    return true;
}

std::optional<bulwark::message_id> ref_id(std::string_view v) {
    if (v.size() != 32)
        return std::nullopt;
    bulwark::message_id id;
    for (std::size_t i = 0; i < 32; ++i) {
        const char c = v[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return std::nullopt;
        auto& half = i < 16 ? id.hi : id.lo;
        half = (half << 4) | static_cast<std::uint64_t>(d);
    }
    return id;
}

std::optional<std::int64_t> ref_timestamp(std::string_view v) {
    std::size_t i = 0;
    const bool neg = !v.empty() && v[0] == '-';
    i = neg ? 1 : 0;
    if (i == v.size())
        return std::nullopt;
    // Accumulate negatively so INT64_MIN fits.
    std::int64_t acc = 0;
    for (; i < v.size(); ++i) {
        if (v[i] < '0' || v[i] > '9')
            return std::nullopt;
        const int d = v[i] - '0';
        if (acc < (INT64_MIN + d) / 10)
            return std::nullopt;
        acc = acc * 10 - d;
    }
    if (!neg) {
        if (acc == INT64_MIN)
            return std::nullopt;
        acc = -acc;
    }
    return acc;
}

std::int64_t ns_of(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

std::string dump(const bulwark::header_map& h) {
    std::string s;
    h.for_each([&](std::string_view k, std::string_view v) {
        s += fuzz::show(k) + "=" + fuzz::show(v) + " ";
    });
    return s;
}

bool same_metadata(const bulwark::message_metadata& a, const bulwark::message_metadata& b) {
    return a.id == b.id && a.correlation_id == b.correlation_id &&
           a.causation_id == b.causation_id && a.timestamp == b.timestamp && a.trace == b.trace &&
           a.headers == b.headers;
}

void decode_arbitrary(const bulwark::header_map& in) {
    // The reference decoder.
    bool bad_id = false, bad_corr = false, bad_cause = false, bad_ts = false;
    bulwark::message_metadata want;
    in.for_each([&](std::string_view k, std::string_view v) {
        if (iequal(k, bulwark::header::message_id)) {
            auto id = ref_id(v);
            bad_id = !id || id->is_nil();
            if (id)
                want.id = *id;
        } else if (iequal(k, bulwark::header::correlation_id)) {
            auto id = ref_id(v);
            bad_corr = !id || id->is_nil(); // all zeros is nil, which means "absent": refused
            if (id)
                want.correlation_id = *id;
        } else if (iequal(k, bulwark::header::causation_id)) {
            auto id = ref_id(v);
            bad_cause = !id || id->is_nil();
            if (id)
                want.causation_id = *id;
        } else if (iequal(k, bulwark::timestamp_header)) {
            auto ts = ref_timestamp(v);
            bad_ts = !ts;
            if (ts)
                want.timestamp = std::chrono::system_clock::time_point{
                    std::chrono::duration_cast<std::chrono::system_clock::duration>(
                        std::chrono::nanoseconds{*ts})};
        } else if (iequal(k, bulwark::header::traceparent)) {
            want.trace = bulwark::traceparent::parse(v); // its own target checks the parser
        } else {
            want.headers.set(k, v);
        }
    });
    const auto got = bulwark::from_headers(in);
    const std::string where = dump(in);
    const bool want_error = bad_id || bad_corr || bad_cause || bad_ts;
    if (got.has_failure()) {
        FUZZ_CHECK(target, want_error,
                   where + " was refused (" + std::error_code(got.code()).message() + ")");
        FUZZ_CHECK(target, got.code() == bulwark::errc::decode_error, where);
        return;
    }
    if (want_error) {
        if (bad_id)
            fuzz::fail(target, where + " has a malformed message-id but decoded");
        if (bad_corr)
            return fuzz::known_defect(target, "correlation_id_garbage",
                                      where + " has a malformed correlation-id but decoded");
        if (bad_ts)
            return fuzz::known_defect(target, "timestamp_garbage",
                                      where + " has a malformed timestamp but decoded");
        return fuzz::known_defect(target, "causation_id_garbage",
                                  where + " has a malformed causation-id but decoded");
    }
    const auto& md = got.value();
    FUZZ_CHECK(target, same_metadata(md, want),
               where + " decoded to other fields than the reference's");
    // What decoded re-encodes to the same metadata (when it has the ids to write).
    if (md.id.is_nil() || md.correlation_id.is_nil())
        return;
    bulwark::header_map again;
    bulwark::to_headers(md, again);
    const auto back = bulwark::from_headers(again);
    FUZZ_CHECK(target, back.has_value() && same_metadata(back.value(), md),
               where + " -> " + dump(again) + " did not round-trip");
}

void round_trip(FuzzedDataProvider& in) {
    bulwark::message_metadata md;
    auto nonnil = [&] {
        bulwark::message_id id{in.ConsumeIntegral<std::uint64_t>(),
                               in.ConsumeIntegral<std::uint64_t>()};
        return id.is_nil() ? bulwark::message_id{0, 1} : id;
    };
    md.id = nonnil();
    md.correlation_id = in.ConsumeBool() ? md.id : nonnil();
    if (in.ConsumeBool())
        md.causation_id = nonnil();
    md.timestamp = std::chrono::system_clock::time_point{
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds{in.ConsumeIntegral<std::int64_t>()})};
    md.trace.trace_id = {in.ConsumeIntegral<std::uint64_t>(), in.ConsumeIntegral<std::uint64_t>()};
    md.trace.parent_id = in.ConsumeIntegral<std::uint64_t>();
    md.trace.flags = in.ConsumeIntegral<std::uint8_t>();
    const int user = in.ConsumeIntegralInRange<int>(0, 12);
    for (int i = 0; i < user; ++i)
        md.headers.set("x-" + in.ConsumeRandomLengthString(12), in.ConsumeRandomLengthString(64));

    bulwark::header_map out;
    bulwark::to_headers(md, out);
    FUZZ_CHECK(target, out.get(bulwark::header::message_id) == md.id.to_string(), dump(out));
    FUZZ_CHECK(target, out.get(bulwark::timestamp_header) == std::to_string(ns_of(md.timestamp)),
               dump(out));
    FUZZ_CHECK(target, out.contains(bulwark::header::traceparent) == md.trace.valid(), dump(out));
    const auto back = bulwark::from_headers(out);
    FUZZ_CHECK(target, back.has_value(), dump(out) + " failed to decode");
    auto expected = md;
    if (!md.trace.valid())
        expected.trace = {};
    FUZZ_CHECK(target, same_metadata(back.value(), expected), dump(out) + " did not round-trip");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0)
        return 0;
    FuzzedDataProvider in(data + 1, size - 1);
    if (data[0] & 1) {
        round_trip(in);
        return 0;
    }
    static constexpr std::string_view names[] = {"message-id",     "Message-ID",   "correlation-id",
                                                 "CORRELATION-ID", "causation-id", "timestamp",
                                                 "Timestamp",      "traceparent",  "TraceParent",
                                                 "tracestate",     "x-user",       "content-type"};
    bulwark::header_map h;
    const int n = in.ConsumeIntegralInRange<int>(0, 10);
    for (int i = 0; i < n; ++i) {
        const auto name = names[in.ConsumeIntegralInRange<std::size_t>(0, std::size(names) - 1)];
        std::string value;
        switch (in.ConsumeIntegralInRange<int>(0, 3)) {
        case 0: // a well-formed id
            value = bulwark::message_id{in.ConsumeIntegral<std::uint64_t>(),
                                        in.ConsumeIntegral<std::uint64_t>()}
                        .to_string();
            break;
        case 1: // a decimal number, maybe out of range
            value = std::to_string(in.ConsumeIntegral<std::int64_t>());
            if (in.ConsumeBool())
                value += std::string(in.ConsumeIntegralInRange<int>(1, 3), '9');
            break;
        case 2: // a traceparent
            value = "00-" +
                    bulwark::message_id{in.ConsumeIntegral<std::uint64_t>(), 7}.to_string() +
                    "-00f067aa0ba902b7-01";
            break;
        default:
            value = in.ConsumeRandomLengthString(60);
        }
        h.set(name, value);
    }
    decode_arbitrary(h);
    return 0;
}
