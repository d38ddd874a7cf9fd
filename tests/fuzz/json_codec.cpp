// Fuzz target: the JSON codec's decode (codec/json.hpp) through `decode_message` with a random
// `schema-version` header, for a type given by `json_fields` and one given by ADL
// to_json/from_json. Properties: never a crash or an escaping exception; a failure is always
// `errc::decode_error` with a message naming the type; a success re-encodes and decodes to an
// equal value (the round trip is exact).
#include <bulwark/codec/json.hpp>
#include <bulwark/codec/schema.hpp>

#include "fuzz_support.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <string>
#include <vector>

namespace {

constexpr const char* target = "json_codec";

struct order_created {
    std::string id;
    double total = 0;
    std::int64_t qty = 0;
    static constexpr auto json_fields = bulwark::json_fields(
        bulwark::field("id", &order_created::id), bulwark::field("total", &order_created::total),
        bulwark::field("qty", &order_created::qty));
    friend bool operator==(const order_created& a, const order_created& b) {
        // NaN cannot come out of JSON; compare totals exactly otherwise.
        return a.id == b.id && a.total == b.total && a.qty == b.qty;
    }
};

struct tags {
    std::vector<std::string> names;
    friend void to_json(nlohmann::json& j, const tags& t) {
        j = nlohmann::json{{"names", t.names}};
    }
    friend void from_json(const nlohmann::json& j, tags& t) { j.at("names").get_to(t.names); }
    friend bool operator==(const tags&, const tags&) = default;
};

template <class T>
void check(const bulwark::json_codec& codec, const bulwark::header_map& headers,
           std::span<const std::byte> bytes, const char* type_name) {
    auto r = bulwark::decode_message<T>(codec, headers, bytes);
    if (!r) {
        if (r.code() != bulwark::errc::decode_error)
            fuzz::fail(target, std::string("a failure that is not decode_error for ") + type_name);
        const std::string msg = bulwark::failure_message(r.error());
        if (msg.find(type_name) == std::string::npos)
            fuzz::fail(target, "a decode error that does not name the type: " + msg);
        return;
    }
    bulwark::header_map h2;
    std::vector<std::byte> again;
    bulwark::encode_message(codec, r.value(), h2, again);
    auto back = bulwark::decode_message<T>(codec, h2, again);
    if (!back || !(back.value() == r.value()))
        fuzz::fail(target, std::string("round trip changed a decoded ") + type_name);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    bulwark::header_map headers;
    switch (in.ConsumeIntegralInRange<int>(0, 3)) {
    case 0:
        break; // no schema-version header: version 1
    case 1:
        headers.set(bulwark::header::schema_version, "1");
        break;
    case 2:
        headers.set(bulwark::header::schema_version, in.ConsumeRandomLengthString(12));
        break;
    default:
        headers.set(bulwark::header::content_type, in.ConsumeRandomLengthString(20));
        break;
    }
    const std::string body = in.ConsumeRemainingBytesAsString();
    const auto bytes = std::as_bytes(std::span(body.data(), body.size()));
    const bulwark::json_codec codec;
    check<order_created>(codec, headers, bytes, "order_created");
    check<tags>(codec, headers, bytes, "tags");
    return 0;
}
