// Discovery over NATS key-value on a test nats-server: two services register with a heartbeat,
// one stops heartbeating and leaves the registry within its TTL, a new one joins and starts
// receiving HTTP calls through balance.

#if BULWARK_TEST_HAS_NATS && BULWARK_TEST_HAS_JSON

#include <bulwark/balance/balance.hpp>
#include <bulwark/balance/discovery/nats_kv.hpp>
#include <bulwark/balance/round_robin.hpp>
#include <bulwark/pipeline.hpp>
#include <bulwark/transport/http.hpp>
#include <bulwark/transport/nats.hpp>

#include "support/http_server.hpp"
#include "support/nats_server.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace std::chrono_literals;
using bulwark::test::http_server;
using bulwark::test::reply;
using bulwark::test::request_info;

namespace {
bool has(const bulwark::registry& reg, const std::string& address) {
    return reg.find(address) != nullptr;
}
// Bounded real-time wait for the watcher thread (only stops a hang; never a timing assertion).
template <class F>
bool eventually(F f) {
    for (int i = 0; i < 2000 && !f(); ++i)
        std::this_thread::sleep_for(5ms);
    return f();
}
} // namespace

TEST_CASE("nats kv discovery: joins, expiry without heartbeat, leave; calls follow",
          "[transport][http][discovery][nats-server]") {
    BULWARK_NEED_NATS(bin);
    bulwark::testing::nats_server server(bin);
    REQUIRE(bulwark::testing::wait_jetstream_ready({server.url()}));
    bulwark::nats_transport nats({.servers = {server.url()}});

    http_server a([](const request_info&) { return reply::ok("a"); });
    http_server b([](const request_info&) { return reply::ok("b"); });
    http_server c([](const request_info&) { return reply::ok("c"); });
    const bulwark::nats_kv_options opts{.bucket = "users", .ttl = 1s, .heartbeat = 200ms};

    auto reg_a = std::make_unique<bulwark::nats_kv_registration>(
        nats.native_handle(), bulwark::endpoint_info{.address = a.address(), .zone = "z1"}, opts);
    bulwark::nats_kv_registration reg_b(
        nats.native_handle(),
        bulwark::endpoint_info{.address = b.address(), .weight = 2, .metadata = {{"v", "2"}}},
        opts);

    bulwark::registry reg;
    bulwark::nats_kv_discovery watch(nats.native_handle(), opts);
    reg.attach(watch);
    REQUIRE(eventually([&] { return reg.size() == 2; }));
    CHECK(reg.find(a.address())->zone() == "z1");
    CHECK(reg.find(b.address())->weight() == 2);
    CHECK(reg.find(b.address())->metadata().at("v") == "2");

    // a crashes: no more heartbeats, its entry stays in the bucket but expires after the TTL.
    reg_a->stop_heartbeat();
    REQUIRE(eventually([&] { return !has(reg, a.address()); }));
    CHECK(has(reg, b.address()));

    // c joins and receives calls.
    bulwark::nats_kv_registration reg_c(nats.native_handle(),
                                        bulwark::endpoint_info{.address = c.address()}, opts);
    REQUIRE(eventually([&] { return has(reg, c.address()); }));
    bulwark::http_transport http;
    auto client = bulwark::pipeline{bulwark::balance<bulwark::round_robin>{reg}};
    std::set<std::string> bodies;
    for (int i = 0; i < 6; ++i) {
        bulwark::context ctx(std::chrono::steady_clock::now() + 5s);
        auto res = client.try_execute([&](bulwark::context& x) { return http.send({}, x); }, ctx);
        REQUIRE(res.has_value());
        bodies.insert(res->body);
    }
    CHECK(bodies == std::set<std::string>{"b", "c"});
    CHECK(c.requests() > 0);
    CHECK(a.requests() == 0);

    // b leaves gracefully (its entry is deleted): gone at once, without waiting for the TTL.
    reg_a.reset();
    {
        bulwark::nats_kv_registration leaving(
            nats.native_handle(), bulwark::endpoint_info{.address = "127.0.0.1:1"}, opts);
        REQUIRE(eventually([&] { return has(reg, "127.0.0.1:1"); }));
    }
    REQUIRE(eventually([&] { return !has(reg, "127.0.0.1:1"); }));
    CHECK(reg.size() == 2);
}

TEST_CASE("nats kv discovery: registration values round-trip; bad ones are refused",
          "[transport][http][discovery]") {
    const bulwark::endpoint_info e{
        .address = "10.0.0.1:80", .weight = 3, .zone = "eu", .metadata = {{"k", "v"}}};
    CHECK(bulwark::endpoint_from_json(bulwark::to_json(e)) == e);
    CHECK(!bulwark::endpoint_from_json("{\"weight\":1}"));
    CHECK(!bulwark::endpoint_from_json("{\"address\":\"x:1\",\"weight\":0}"));
    CHECK(!bulwark::endpoint_from_json("not json"));
    const bulwark::nats_kv_options bad{.ttl = 1s, .heartbeat = 2s};
    CHECK_THROWS_AS(bad.validate(), bulwark::invalid_argument_error);
}

#else
#include <catch2/catch.hpp>
TEST_CASE("nats kv discovery (needs cnats and nlohmann-json)", "[transport][http][discovery]") {
    WARN("skipped: bulwark::nats or bulwark::json is missing in this build");
}
#endif
