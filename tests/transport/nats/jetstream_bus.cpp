// The typed at-least-once bus over JetStream: the async_bus API, JSON on the wire, envelope as
// headers, redelivery, typed and raw dead letters (a malformed payload), keyed order, dedupe.
#include "support/nats_server.hpp"

#include <bulwark/codec/json.hpp>
#include <bulwark/transport/nats.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace shop {
struct order_created {
    static constexpr std::string_view subject = "shop.orders.created";
    std::string id;
    double total = 0;
    static constexpr auto json_fields = bulwark::json_fields(
        bulwark::field("id", &order_created::id), bulwark::field("total", &order_created::total));
};
struct payment_failed {
    static constexpr std::string_view subject = "shop.payments.failed";
    std::string order;
    int attempt = 0;
    static constexpr auto json_fields =
        bulwark::json_fields(bulwark::field("order", &payment_failed::order),
                             bulwark::field("attempt", &payment_failed::attempt));
};
using topics = bulwark::topics<order_created, payment_failed>;
} // namespace shop

namespace {
template <class F>
bool eventually(F done, std::chrono::seconds bound = 15s) {
    auto until = std::chrono::steady_clock::now() + bound;
    while (!done()) {
        if (std::chrono::steady_clock::now() > until)
            return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}
bulwark::nats_options opts_for(const std::string& url) {
    bulwark::nats_options o;
    o.servers = {url};
    return o;
}
} // namespace

TEST_CASE("jetstream_bus: typed round trip with the envelope, redelivery after a failure",
          "[nats][jetstream][bus][nats-server]") {
    BULWARK_NEED_NATS(bin);
    bulwark::testing::nats_server server(bin);
    bulwark::nats_transport t(opts_for(server.url()));
    bulwark::jetstream js(t);
    bulwark::jetstream_bus<shop::topics, bulwark::json_codec> bus(js, {.stream = "SHOP"});

    std::mutex m;
    std::vector<std::string> seen;
    bulwark::message_metadata parent;
    bulwark::stamp(parent);
    auto sub_1 = bus.subscribe<shop::order_created>(
        [&](const bulwark::envelope<shop::order_created>& e) {
            std::lock_guard l(m);
            seen.push_back(e.message().id + " " + std::to_string(e.message().total) + " corr=" +
                           (e.correlation_id() == parent.correlation_id ? "parent" : "other") +
                           " cause=" + (e.causation_id() == parent.id ? "parent" : "other"));
        },
        {.delivery = bulwark::at_least_once{.max_deliveries = 3}});
    std::atomic<int> calls{0};
    auto sub_2 = bus.subscribe<shop::payment_failed>(
        [&](bulwark::bus_delivery<shop::payment_failed>& d) {
            if (++calls == 1)
                return d.nack("ledger locked");
            d.ack();
        },
        {.delivery =
             bulwark::at_least_once{.max_deliveries = 3, .redelivery_backoff = {.delay = 20ms}}});
    REQUIRE(bus.publish(shop::order_created{"o-1", 12.5}, bulwark::caused_by(parent)) ==
            std::error_code{});
    REQUIRE(bus.publish(shop::payment_failed{"o-1", 1}) == std::error_code{});
    REQUIRE(eventually([&] { return bus.stats<shop::order_created>().handled == 1; }));
    REQUIRE(eventually([&] { return bus.stats<shop::payment_failed>().handled == 1; }));
    CHECK(calls == 2);
    CHECK(bus.stats<shop::payment_failed>().redelivered == 1);
    std::lock_guard l(m);
    CHECK(seen == std::vector<std::string>{"o-1 12.500000 corr=parent cause=parent"});
}

TEST_CASE("jetstream_bus: a malformed payload goes to the dead-letter sink with bytes, headers "
          "and the reason; an exhausted one to the typed sink",
          "[nats][jetstream][bus][nats-server]") {
    BULWARK_NEED_NATS(bin);
    bulwark::testing::nats_server server(bin);
    bulwark::nats_transport t(opts_for(server.url()));
    bulwark::jetstream js(t);
    std::mutex m;
    std::vector<bulwark::nats_dead_letter> raw;
    bulwark::jetstream_bus<shop::topics, bulwark::json_codec> bus(
        js, {.stream = "SHOP2", .raw_dead_letter = [&](bulwark::nats_dead_letter&& d) {
                 std::lock_guard l(m);
                 raw.push_back(std::move(d));
             }});
    bulwark::dead_letter_box<bulwark::async_message<shop::order_created>> typed;
    std::atomic<int> handled{0};
    auto sub_3 = bus.subscribe<shop::order_created>(
        [&](const shop::order_created& o) {
            if (o.id == "bad")
                throw std::runtime_error("no such customer");
            ++handled;
        },
        {.delivery = bulwark::at_least_once{.max_deliveries = 2}, .dead_letter = typed.sink()});

    // a publisher that is not bulwark sends garbage on the topic's subject
    bulwark::header_map h;
    h.set("content-type", "application/json");
    h.set("x-origin", "legacy");
    std::string junk = "{\"id\": 42, \"total\": ";
    REQUIRE(js.publish("shop.orders.created", h,
                       {reinterpret_cast<const std::byte*>(junk.data()), junk.size()})
                .has_value());
    REQUIRE(bus.publish(shop::order_created{"bad", 1}) == std::error_code{});
    REQUIRE(bus.publish(shop::order_created{"good", 2}) == std::error_code{});
    REQUIRE(eventually([&] { return bus.stats<shop::order_created>().dead_lettered == 2; }));
    REQUIRE(eventually([&] { return handled == 1; }));
    std::lock_guard l(m);
    REQUIRE(raw.size() == 2);
    auto& bad_bytes = raw[0];
    CHECK(std::string(reinterpret_cast<const char*>(bad_bytes.message.data.data()),
                      bad_bytes.message.data.size()) == junk);
    CHECK(bad_bytes.message.headers.get("x-origin") == "legacy");
    CHECK_THAT(bad_bytes.reason, Catch::StartsWith("order_created: malformed JSON: "));
    CHECK(bad_bytes.kind == bulwark::dead_letter_kind::malformed);
    CHECK(bad_bytes.deliveries == 1);
    REQUIRE(typed.size() == 1);
    auto t0 = typed.items()[0];
    CHECK(t0.message.message.id == "bad");
    CHECK(t0.deliveries == 2);
    CHECK(t0.kind == bulwark::dead_letter_kind::max_deliveries);
    CHECK(t0.reason == "handler threw: no such customer");
    CHECK(raw[1].reason == "handler threw: no such customer");
}

TEST_CASE("jetstream_bus: keyed messages keep their order; the dedupe window drops a re-sent id",
          "[nats][jetstream][bus][nats-server]") {
    BULWARK_NEED_NATS(bin);
    bulwark::testing::nats_server server(bin);
    bulwark::nats_transport t(opts_for(server.url()));
    bulwark::jetstream js(t);
    bulwark::jetstream_bus<shop::topics, bulwark::json_codec> bus(
        js, {.stream = "SHOP3", .duplicate_window = 100ms});
    std::mutex m;
    std::map<std::string, std::vector<int>> seen;
    auto window = std::make_shared<bulwark::dedupe_window<bulwark::message_id>>(1000);
    auto sub_4 = bus.subscribe<shop::payment_failed>(
        [&](bulwark::bus_delivery<shop::payment_failed>& d) {
            const auto& p = d.message().message;
            if (p.attempt % 5 == 2 && d.attempt() == 1)
                throw std::runtime_error("transient"); // retried in place: never overtaken
            std::lock_guard l(m);
            seen[p.order].push_back(p.attempt);
            d.ack();
        },
        {.consumers = 3,
         .per_key_order = true,
         .delivery = bulwark::at_least_once{.max_deliveries = 10}},
        window);
    for (int i = 0; i < 20; ++i)
        for (std::string order : {"a", "b", "c"})
            REQUIRE(bus.publish(shop::payment_failed{order, i}, {.key = order}) ==
                    std::error_code{});
    // the same message (same id) sent again after the server's duplicate window
    bulwark::message_metadata md;
    bulwark::stamp(md);
    REQUIRE(bus.publish(shop::payment_failed{"z", 0}, md) == std::error_code{});
    std::this_thread::sleep_for(300ms);
    REQUIRE(bus.publish(shop::payment_failed{"z", 0}, md) == std::error_code{});
    REQUIRE(eventually([&] {
        std::lock_guard l(m);
        return seen["a"].size() == 20 && seen["b"].size() == 20 && seen["c"].size() == 20 &&
               seen["z"].size() == 1;
    }));
    REQUIRE(eventually([&] { return bus.stats<shop::payment_failed>().duplicates == 1; }));
    std::lock_guard l(m);
    std::vector<int> expected(20);
    for (int i = 0; i < 20; ++i)
        expected[static_cast<std::size_t>(i)] = i;
    CHECK(seen["a"] == expected);
    CHECK(seen["b"] == expected);
    CHECK(seen["c"] == expected);
}
