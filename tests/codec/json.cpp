#include <bulwark/codec/json.hpp>

#include <catch2/catch.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace shop {
// 1. a type with a field list
struct order_created {
    std::string id;
    double total = 0;
    static constexpr auto json_fields = bulwark::json_fields(
        bulwark::field("id", &order_created::id), bulwark::field("total", &order_created::total));
};

// 2. a type with its own ADL to_json / from_json (custom JSON shape)
struct money {
    long cents = 0;
    std::string currency;
};
inline void to_json(nlohmann::json& j, const money& m) {
    j = std::to_string(m.cents / 100) + "." + (m.cents % 100 < 10 ? "0" : "") +
        std::to_string(m.cents % 100) + " " + m.currency;
}
inline void from_json(const nlohmann::json& j, money& m) {
    auto s = j.get<std::string>();
    auto dot = s.find('.'), space = s.find(' ');
    if (dot == std::string::npos || space == std::string::npos)
        throw std::runtime_error("money must look like '12.34 EUR'");
    m.cents = std::stol(s.substr(0, dot)) * 100 + std::stol(s.substr(dot + 1, space - dot - 1));
    m.currency = s.substr(space + 1);
}

// 3. schema evolution: v1 -> v2 -> v3
struct order_v1 {
    std::string id;
    static constexpr auto json_fields = bulwark::json_fields(bulwark::field("id", &order_v1::id));
};
struct order_v2 {
    static constexpr std::uint32_t schema_version = 2;
    using previous_schema = order_v1;
    static order_v2 upcast(order_v1&& o) { return {std::move(o.id), 0}; }
    std::string id;
    long qty = 0;
    static constexpr auto json_fields = bulwark::json_fields(bulwark::field("id", &order_v2::id),
                                                             bulwark::field("qty", &order_v2::qty));
};
struct order_v3 {
    static constexpr std::uint32_t schema_version = 3;
    using previous_schema = order_v2;
    static order_v3 upcast(order_v2&& o) { return {std::move(o.id), o.qty, "unknown"}; }
    std::string id;
    long qty = 0;
    std::string channel;
    static constexpr auto json_fields = bulwark::json_fields(
        bulwark::field("id", &order_v3::id), bulwark::field("qty", &order_v3::qty),
        bulwark::field("channel", &order_v3::channel));
};
struct order_v2_only {
    static constexpr std::uint32_t schema_version = 2;
    std::string id;
    static constexpr auto json_fields =
        bulwark::json_fields(bulwark::field("id", &order_v2_only::id));
};
} // namespace shop

namespace {
std::span<const std::byte> bytes_of(std::string_view s) {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
std::string text_of(const std::vector<std::byte>& b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}
} // namespace

TEST_CASE("json codec round-trips a type with json_fields", "[codec][json]") {
    bulwark::json_codec c;
    static_assert(bulwark::codec<bulwark::json_codec, shop::order_created>);
    std::vector<std::byte> out;
    c.encode(shop::order_created{"o-1", 99.5}, out);
    CHECK(text_of(out) == R"({"id":"o-1","total":99.5})");
    auto back = c.decode<shop::order_created>(out);
    REQUIRE(back.has_value());
    CHECK(back->id == "o-1");
    CHECK(back->total == 99.5);
}

TEST_CASE("json codec uses a type's own to_json / from_json", "[codec][json]") {
    bulwark::json_codec c;
    std::vector<std::byte> out;
    c.encode(shop::money{1205, "EUR"}, out);
    CHECK(text_of(out) == R"("12.05 EUR")");
    auto back = c.decode<shop::money>(out);
    REQUIRE(back.has_value());
    CHECK(back->cents == 1205);
    auto bad = c.decode<shop::money>(bytes_of(R"("lots")"));
    REQUIRE(bad.has_failure());
    CHECK_THAT(bulwark::failure_message(bad.error()),
               Catch::Equals("money: money must look like '12.34 EUR'"));
}

TEST_CASE("json codec carries standard types", "[codec][json]") {
    bulwark::json_codec c;
    std::vector<std::byte> out;
    std::map<std::string, std::vector<int>> m{{"a", {1, 2}}};
    c.encode(m, out);
    auto back = c.decode<std::map<std::string, std::vector<int>>>(out);
    REQUIRE(back.has_value());
    CHECK(*back == m);
}

TEST_CASE("json codec: malformed input is a decode_error naming the type and the reason",
          "[codec][json]") {
    bulwark::json_codec c;
    SECTION("not JSON") {
        auto r = c.decode<shop::order_created>(bytes_of("{\"id\": \"o-1\", total"));
        REQUIRE(r.has_failure());
        CHECK(r.code() == bulwark::errc::decode_error);
        CHECK_THAT(bulwark::failure_message(r.error()),
                   Catch::StartsWith("order_created: malformed JSON: "));
    }
    SECTION("a missing field") {
        auto r = c.decode<shop::order_created>(bytes_of(R"({"id":"o-1"})"));
        REQUIRE(r.has_failure());
        CHECK_THAT(bulwark::failure_message(r.error()),
                   Catch::Equals("order_created: missing field 'total'"));
    }
    SECTION("a mistyped field") {
        auto r = c.decode<shop::order_created>(bytes_of(R"({"id":"o-1","total":"many"})"));
        REQUIRE(r.has_failure());
        CHECK_THAT(bulwark::failure_message(r.error()),
                   Catch::StartsWith("order_created: field 'total': "));
    }
    SECTION("not an object") {
        auto r = c.decode<shop::order_created>(bytes_of("[1,2]"));
        REQUIRE(r.has_failure());
        CHECK_THAT(bulwark::failure_message(r.error()),
                   Catch::Equals("order_created: expected a JSON object, got array"));
    }
    SECTION("empty and binary garbage") {
        CHECK(c.decode<shop::order_created>({}).code() == bulwark::errc::decode_error);
        const unsigned char junk[] = {0xff, 0x00, 0xc3, 0x28};
        CHECK(c.decode<shop::order_created>(std::as_bytes(std::span(junk))).code() ==
              bulwark::errc::decode_error);
    }
}

TEST_CASE("schema evolution: an old payload is upcast through the chain", "[codec][json][schema]") {
    bulwark::json_codec c;
    bulwark::header_map h;
    std::vector<std::byte> out;
    bulwark::encode_message(c, shop::order_v1{"o-7"}, h, out);
    CHECK(h.get("schema-version") == "1");
    CHECK(h.get("content-type") == "application/json");

    auto v3 = bulwark::decode_message<shop::order_v3>(c, h, out);
    REQUIRE(v3.has_value());
    CHECK(v3->id == "o-7");
    CHECK(v3->qty == 0);
    CHECK(v3->channel == "unknown");

    // no header at all: version 1 (a non-bulwark publisher)
    auto plain = bulwark::decode_message<shop::order_v2>(c, bulwark::header_map{}, out);
    REQUIRE(plain.has_value());
    CHECK(plain->id == "o-7");

    // a current payload decodes directly
    bulwark::header_map h3;
    std::vector<std::byte> o3;
    bulwark::encode_message(c, shop::order_v3{"o-8", 2, "web"}, h3, o3);
    CHECK(h3.get("schema-version") == "3");
    auto same = bulwark::decode_message<shop::order_v3>(c, h3, o3);
    REQUIRE(same.has_value());
    CHECK(same->channel == "web");

    // a newer payload than the reader knows is refused, with the reason
    auto older_reader = bulwark::decode_message<shop::order_v2>(c, h3, o3);
    REQUIRE(older_reader.has_failure());
    CHECK(older_reader.code() == bulwark::errc::decode_error);
    CHECK_THAT(bulwark::failure_message(older_reader.error()),
               Catch::StartsWith("order_v2: schema version 3 is newer than this type's 2"));

    // an old version for a type without an upcast hook
    bulwark::header_map h1;
    h1.set("schema-version", "1");
    auto no_hook = bulwark::decode_message<shop::order_v2_only>(c, h1, bytes_of(R"({"id":"x"})"));
    REQUIRE(no_hook.has_failure());
    CHECK_THAT(bulwark::failure_message(no_hook.error()),
               Catch::Contains("declares no previous_schema to upcast from"));
}
