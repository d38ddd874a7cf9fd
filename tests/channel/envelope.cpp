#include <bulwark/channel/envelope.hpp>

#include "support/alloc_counter.hpp"

#include <catch2/catch.hpp>

#include <set>
#include <thread>
#include <vector>

using bulwark::message_id;
using bulwark::message_metadata;

TEST_CASE("message ids are unique, non-nil and round-trip as 32 hex digits",
          "[channel][envelope]") {
    std::set<std::pair<std::uint64_t, std::uint64_t>> seen;
    for (int i = 0; i < 1000; ++i) {
        auto id = message_id::generate();
        CHECK(!id.is_nil());
        CHECK(seen.insert({id.hi, id.lo}).second);
        auto t = id.text();
        CHECK(message_id::parse({t.data(), t.size()}) == id);
    }
    CHECK(message_id::parse("not-an-id").is_nil());
    CHECK(message_id::parse(std::string(32, 'g')).is_nil());
    CHECK(message_id::generate().to_string().size() == 32);
}

TEST_CASE("message ids from different threads never collide", "[channel][envelope][concurrency]") {
    std::vector<std::vector<message_id>> per(4);
    std::vector<std::thread> ts;
    for (auto& v : per)
        ts.emplace_back([&v] {
            for (int i = 0; i < 2000; ++i)
                v.push_back(message_id::generate());
        });
    for (auto& t : ts)
        t.join();
    std::set<std::pair<std::uint64_t, std::uint64_t>> all;
    for (auto& v : per)
        for (auto id : v)
            CHECK(all.insert({id.hi, id.lo}).second);
}

TEST_CASE("stamp fills a root message; caused_by links a child", "[channel][envelope]") {
    message_metadata root;
    bulwark::stamp(root);
    CHECK(!root.id.is_nil());
    CHECK(root.correlation_id == root.id);
    CHECK(root.causation_id.is_nil());
    CHECK(root.timestamp != std::chrono::system_clock::time_point{});
    CHECK(root.trace.valid());

    auto child = bulwark::caused_by(root);
    bulwark::stamp(child);
    CHECK(child.id != root.id);
    CHECK(child.correlation_id == root.correlation_id);
    CHECK(child.causation_id == root.id);
    CHECK(child.trace.trace_id == root.trace.trace_id);
    CHECK(child.trace.parent_id != root.trace.parent_id);
}

TEST_CASE("traceparent follows W3C trace context version 00", "[channel][envelope]") {
    auto tp =
        bulwark::traceparent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    REQUIRE(tp.valid());
    CHECK(tp.parent_id == 0x00f067aa0ba902b7ULL);
    CHECK(tp.flags == 1);
    CHECK(tp.to_string() == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    // all-zero ids and malformed input are invalid
    CHECK(!bulwark::traceparent::parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01")
               .valid());
    CHECK(!bulwark::traceparent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01")
               .valid());
    CHECK(!bulwark::traceparent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7")
               .valid());
    CHECK(!bulwark::traceparent::parse("xx").valid());
}

TEST_CASE("metadata round-trips through text headers", "[channel][envelope]") {
    message_metadata md;
    md.headers.set("tenant", "acme");
    md.causation_id = message_id::generate();
    bulwark::stamp(md);
    bulwark::header_map h;
    bulwark::to_headers(md, h);
    CHECK(h.get("message-id") == std::string_view{md.id.to_string()});
    CHECK(h.get("traceparent").has_value());
    auto back = bulwark::from_headers(h);
    REQUIRE(back.has_value());
    CHECK(back->id == md.id);
    CHECK(back->correlation_id == md.correlation_id);
    CHECK(back->causation_id == md.causation_id);
    CHECK(back->trace == md.trace);
    CHECK(back->timestamp == md.timestamp);
    CHECK(back->headers.get("tenant") == "acme");

    bulwark::header_map broken;
    broken.set("message-id", "zz");
    CHECK(bulwark::from_headers(broken).code() == bulwark::errc::decode_error);
}

TEST_CASE("making metadata and an envelope allocates nothing", "[channel][envelope]") {
    int payload = 7;
    (void)message_id::generate(); // first use on this thread seeds the prefix
    bulwark::test::alloc_scope scope;
    message_metadata md;
    md.headers.set("tenant", "acme");
    bulwark::stamp(md);
    bulwark::envelope<int> env{payload, md};
    auto text = env.id().text();
    CHECK(env.message() == 7);
    CHECK(env.headers().get("tenant") == "acme");
    CHECK(text.size() == 32);
    CHECK(scope.count() == 0);
}
