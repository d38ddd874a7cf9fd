#include <bulwark/codec/raw.hpp>
#include <bulwark/codec/schema.hpp>

#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

namespace {
std::span<const std::byte> bytes_of(const std::string& s) {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
} // namespace

TEST_CASE("raw codec round-trips strings and byte vectors", "[codec][raw]") {
    bulwark::raw_codec c;
    std::vector<std::byte> out;
    c.encode(std::string("hello"), out);
    c.encode(std::string(""), out);
    c.encode(std::vector<std::byte>{std::byte{0}, std::byte{255}}, out);
    REQUIRE(out.size() == 7);
    auto s = c.decode<std::string>({out.data(), 5});
    REQUIRE(s.has_value());
    CHECK(*s == "hello");
    auto b = c.decode<std::vector<std::byte>>({out.data() + 5, 2});
    REQUIRE(b.has_value());
    CHECK(((*b)[0] == std::byte{0} && (*b)[1] == std::byte{255}));
    auto e = c.decode<std::vector<unsigned char>>({});
    REQUIRE(e.has_value());
    CHECK(e->empty());
    static_assert(!bulwark::codec<bulwark::raw_codec, int>);
}

TEST_CASE("encode_message sets content-type and schema-version", "[codec][schema]") {
    bulwark::raw_codec c;
    bulwark::header_map h;
    std::vector<std::byte> out;
    bulwark::encode_message(c, std::string("x"), h, out);
    CHECK(h.get("content-type") == "application/octet-stream");
    CHECK(h.get("schema-version") == "1");
    auto back = bulwark::decode_message<std::string>(c, h, out);
    REQUIRE(back.has_value());
    CHECK(*back == "x");
}

TEST_CASE("decode_message rejects a foreign content type and a bad version header",
          "[codec][schema]") {
    bulwark::raw_codec c;
    std::string payload = "x";
    bulwark::header_map h;
    h.set("content-type", "application/json");
    auto r = bulwark::decode_message<std::string>(c, h, bytes_of(payload));
    REQUIRE(r.has_failure());
    CHECK(r.code() == bulwark::errc::decode_error);
    CHECK_THAT(bulwark::failure_message(r.error()),
               Catch::Contains("content-type 'application/json'"));

    bulwark::header_map v;
    v.set("schema-version", "two");
    auto r2 = bulwark::decode_message<std::string>(c, v, bytes_of(payload));
    REQUIRE(r2.has_failure());
    CHECK(r2.code() == bulwark::errc::decode_error);
    CHECK_THAT(bulwark::failure_message(r2.error()),
               Catch::Contains("bad schema-version header 'two'"));
    CHECK_THROWS_AS(r2.value(), bulwark::resilience_error);
}

namespace test_types {
struct widget {
    static constexpr std::string_view subject = "widgets.made";
};
template <class T>
struct box {};
} // namespace test_types

TEST_CASE("type_name strips namespaces for error messages", "[codec][schema]") {
    CHECK(bulwark::type_name<test_types::widget>() == "widget");
    CHECK(bulwark::type_name<test_types::box<int>>() == "box<int>");
}
