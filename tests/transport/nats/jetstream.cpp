// JetStream through bulwark: declarations, publish acks and dedupe, async publish, and the
// at-least-once consumer (nak with backoff, dead letters, in-progress, per-key order, dedupe),
// against a real nats-server on 127.0.0.1.
#include "support/nats_server.hpp"

#include <bulwark/transport/nats.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

std::span<const std::byte> bytes_of(std::string_view s) {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
std::string text_of(std::span<const std::byte> b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

bulwark::nats_options opts_for(const std::string& url) {
    bulwark::nats_options o;
    o.servers = {url};
    o.reconnect_wait = 100ms;
    o.reconnect_jitter = 0ms;
    o.max_reconnects = -1;
    return o;
}

/// Polls `done` every 5 ms; the bound only stops a hung test.
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

struct dl_box {
    std::mutex m;
    std::vector<bulwark::nats_dead_letter> items;
    std::function<void(bulwark::nats_dead_letter&&)> sink() {
        return [this](bulwark::nats_dead_letter&& d) {
            std::lock_guard l(m);
            items.push_back(std::move(d));
        };
    }
    std::size_t size() {
        std::lock_guard l(m);
        return items.size();
    }
};

bulwark::header_map with_id(bulwark::message_id id) {
    bulwark::header_map h;
    h.set(bulwark::header::message_id, id.to_string());
    return h;
}

} // namespace

TEST_CASE("jetstream: declarations are idempotent; a different one is a clear error",
          "[nats][jetstream][nats-server]") {
    BULWARK_NEED_NATS(bin);
    bulwark::testing::nats_server server(bin);
    bulwark::nats_transport t(opts_for(server.url()));
    bulwark::jetstream js(t);
    bulwark::stream_config sc{.name = "ORDERS", .subjects = {"orders.>"}};
    REQUIRE(js.declare_stream(sc).has_value());
    REQUIRE(js.declare_stream(sc).has_value()); // identical: fine
    auto other = sc;
    other.subjects = {"orders.>", "refunds.>"};
    other.duplicate_window = 1min;
    auto r = js.declare_stream(other);
    REQUIRE(r.has_failure());
    CHECK(r.code() == bulwark::errc::invalid_argument);
    std::string text;
    try {
        r.value();
    } catch (const std::exception& e) {
        text = e.what();
    }
    CHECK_THAT(text, Catch::Contains("stream 'ORDERS' exists with a different configuration"));
    CHECK_THAT(text, Catch::Contains("subjects [orders.>] (declared: [orders.>, refunds.>])"));
    CHECK_THAT(text, Catch::Contains("duplicate_window_ns"));

    bulwark::consumer_config cc{.stream = "ORDERS",
                                .durable = "billing",
                                .filter_subject = "orders.created",
                                .ack_wait = 5s,
                                .max_deliveries = 3};
    REQUIRE(js.declare_consumer(cc).has_value());
    REQUIRE(js.declare_consumer(cc).has_value());
    auto cc2 = cc;
    cc2.max_deliveries = 7;
    auto r2 = js.declare_consumer(cc2);
    REQUIRE(r2.has_failure());
    CHECK(r2.code() == bulwark::errc::invalid_argument);

    CHECK_THROWS_AS(js.declare_stream({.name = "bad.name", .subjects = {"x"}}),
                    bulwark::invalid_argument_error);
    CHECK_THROWS_AS(bulwark::jetstream(t, {.max_async_in_flight = 0}),
                    bulwark::invalid_argument_error);

    // publishing where no stream listens: no_responders, at once
    auto nowhere = js.publish("nowhere.x", {}, bytes_of("x"));
    REQUIRE(nowhere.has_failure());
    CHECK(nowhere.code() == bulwark::errc::no_responders);
}

TEST_CASE("jetstream: publish acks, and a retried publish (same message id) is stored once",
          "[nats][jetstream][nats-server]") {
    BULWARK_NEED_NATS(bin);
    bulwark::testing::nats_server server(bin);
    bulwark::nats_transport t(opts_for(server.url()));
    bulwark::jetstream js(t);
    REQUIRE(js.declare_stream({.name = "D", .subjects = {"d.>"}}).has_value());
    auto id = bulwark::message_id::generate();
    auto a1 = js.publish("d.x", with_id(id), bytes_of("one"));
    REQUIRE(a1.has_value());
    CHECK(a1->stream == "D");
    CHECK(a1->sequence == 1);
    CHECK_FALSE(a1->duplicate);
    auto a2 = js.publish("d.x", with_id(id), bytes_of("one"));
    REQUIRE(a2.has_value());
    CHECK(a2->sequence == 1);
    CHECK(a2->duplicate);
    auto a3 = js.publish("d.x", with_id(bulwark::message_id::generate()), bytes_of("two"));
    REQUIRE(a3.has_value());
    CHECK(a3->sequence == 2);

    std::mutex m;
    std::vector<std::string> got;
    bulwark::jetstream_consumer c(js, {.stream = "D", .durable = "reader"},
                                  bulwark::message_handler([&](const bulwark::message_view& v) {
                                      std::lock_guard l(m);
                                      got.push_back(
                                          text_of(v.data) + "@" +
                                          std::string(v.headers->get("Nats-Msg-Id").value_or("")));
                                      return bulwark::settle::ack();
                                  }));
    REQUIRE(eventually([&] { return c.stats().handled == 2; }));
    std::this_thread::sleep_for(100ms);
    std::lock_guard l(m);
    REQUIRE(got.size() == 2);
    CHECK(got[0] == "one@" + id.to_string());
}

TEST_CASE("jetstream: async publish with a bounded number in flight",
          "[nats][jetstream][nats-server]") {
    BULWARK_NEED_NATS(bin);
    bulwark::testing::nats_server server(bin);
    bulwark::nats_transport t(opts_for(server.url()));
    std::atomic<int> results{0}, ok{0};
    bulwark::jetstream js(t, {.max_async_in_flight = 64,
                              .on_async_result = [&](const bulwark::async_publish_result& r) {
                                  ok += r.ok ? 1 : 0; // a cnats thread: no Catch2 assertion here
                                  ++results;
                              }});
    REQUIRE(js.declare_stream(
                  {.name = "A", .subjects = {"a.>"}, .storage = bulwark::stream_storage::memory})
                .has_value());
    constexpr int n = 3000;
    int refused = 0;
    for (int i = 0; i < n; ++i) {
        auto r = js.publish_async("a.x", with_id(bulwark::message_id::generate()), bytes_of("p"));
        if (!r) {
            CHECK(r.code() == bulwark::errc::queue_full);
            ++refused;
            --i; // back-pressure: try again
        }
    }
    REQUIRE(js.wait_async(std::chrono::steady_clock::now() + 30s).has_value());
    CHECK(js.async_acked() == static_cast<std::uint64_t>(n));
    CHECK(js.async_failed() == 0);
    CHECK(results == n);
    CHECK(ok == n);
    INFO("publish_async refused " << refused << " times for back-pressure");
}

TEST_CASE("jetstream consumer: a handler that fails then succeeds is redelivered with the backoff",
          "[nats][jetstream][nats-server]") {
    BULWARK_NEED_NATS(bin);
    bulwark::testing::nats_server server(bin);
    bulwark::nats_transport t(opts_for(server.url()));
    bulwark::jetstream js(t);
    REQUIRE(js.declare_stream({.name = "R", .subjects = {"r.>"}}).has_value());
    std::mutex m;
    std::vector<std::uint32_t> deliveries;
    dl_box dl;
    bulwark::jetstream_consumer c(
        js, {.stream = "R", .durable = "w", .max_deliveries = 5},
        bulwark::message_handler([&](const bulwark::message_view& v) {
            std::lock_guard l(m);
            deliveries.push_back(v.delivery_count);
            if (v.delivery_count == 1)
                throw std::runtime_error("database busy"); // first delivery fails
            return bulwark::settle::ack();
        }),
        {.backoff = {.delay = 50ms, .multiplier = 2.0}, .dead_letter = dl.sink()});
    REQUIRE(js.publish("r.x", with_id(bulwark::message_id::generate()), bytes_of("x")).has_value());
    REQUIRE(eventually([&] { return c.stats().handled == 1; }));
    std::lock_guard l(m);
    CHECK(deliveries == std::vector<std::uint32_t>{1, 2});
    CHECK(c.stats().redelivered == 1);
    CHECK(dl.size() == 0);
}

TEST_CASE("jetstream consumer: dead-lettered after max deliveries, republished with the reason",
          "[nats][jetstream][nats-server]") {
    BULWARK_NEED_NATS(bin);
    bulwark::testing::nats_server server(bin);
    bulwark::nats_transport t(opts_for(server.url()));
    bulwark::jetstream js(t);
    REQUIRE(js.declare_stream({.name = "W", .subjects = {"w.>"}}).has_value());
    REQUIRE(js.declare_stream({.name = "DLQ", .subjects = {"dead.>"}}).has_value());
    std::atomic<int> calls{0};
    dl_box dl;
    bulwark::jetstream_consumer c(js, {.stream = "W", .durable = "w", .max_deliveries = 3},
                                  bulwark::jetstream_handler([&](const bulwark::message_view&,
                                                                 bulwark::jetstream_control& ctl) {
                                      ++calls;
                                      ctl.reason("payment provider said no (try " +
                                                 std::to_string(ctl.delivery_count()) + ")");
                                      return bulwark::settle::nack();
                                  }),
                                  {.dead_letter_subject = "dead.w", .dead_letter = dl.sink()});
    bulwark::header_map h = with_id(bulwark::message_id::generate());
    h.set("tenant", "acme");
    REQUIRE(js.publish("w.pay", h, bytes_of("pay 10")).has_value());
    REQUIRE(eventually([&] { return c.stats().dead_lettered == 1; }));
    CHECK(calls == 3);
    REQUIRE(dl.size() == 1);
    {
        std::lock_guard l(dl.m);
        auto& d = dl.items[0];
        CHECK(d.deliveries == 3);
        CHECK(d.kind == bulwark::dead_letter_kind::max_deliveries);
        CHECK(d.reason == "payment provider said no (try 3)");
        CHECK(text_of(d.message.data) == "pay 10");
        CHECK(d.message.headers.get("tenant") == "acme");
        CHECK(d.message.subject == "w.pay");
    }
    // the republished dead letter is in the DLQ stream with reason and count
    std::mutex m;
    std::vector<bulwark::received_message> dead;
    bulwark::jetstream_consumer reader(
        js, {.stream = "DLQ", .durable = "ops"},
        bulwark::message_handler([&](const bulwark::message_view& v) {
            std::lock_guard l(m);
            bulwark::received_message r;
            r.subject = v.subject;
            r.headers = *v.headers;
            r.data.assign(v.data.begin(), v.data.end());
            dead.push_back(std::move(r));
            return bulwark::settle::ack();
        }));
    REQUIRE(eventually([&] { return reader.stats().handled == 1; }));
    std::lock_guard l(m);
    CHECK(dead[0].subject == "dead.w");
    CHECK(dead[0].headers.get("dead-letter-reason") == "payment provider said no (try 3)");
    CHECK(dead[0].headers.get("dead-letter-deliveries") == "3");
    CHECK(dead[0].headers.get("dead-letter-subject") == "w.pay");
    CHECK(dead[0].headers.get("tenant") == "acme");
    CHECK(text_of(dead[0].data) == "pay 10");
}

TEST_CASE("jetstream consumer: term dead-letters at once; in_progress holds a long handler",
          "[nats][jetstream][nats-server]") {
    BULWARK_NEED_NATS(bin);
    bulwark::testing::nats_server server(bin);
    bulwark::nats_transport t(opts_for(server.url()));
    bulwark::jetstream js(t);
    REQUIRE(js.declare_stream({.name = "L", .subjects = {"l.>"}}).has_value());
    dl_box dl;
    std::atomic<int> slow_calls{0};
    std::atomic<bool> progress_ok{true};
    bulwark::jetstream_consumer c(
        js, {.stream = "L", .durable = "w", .ack_wait = 600ms, .max_deliveries = 5},
        bulwark::jetstream_handler(
            [&](const bulwark::message_view& v, bulwark::jetstream_control& ctl) {
                if (text_of(v.data) == "poison") {
                    ctl.reason("cannot parse");
                    return bulwark::settle::term();
                }
                ++slow_calls;
                for (int i = 0; i < 6; ++i) { // 1.2 s, twice the ack wait
                    std::this_thread::sleep_for(200ms);
                    if (!ctl.in_progress().has_value())
                        progress_ok = false;
                }
                return bulwark::settle::ack();
            }),
        {.workers = 2, .dead_letter = dl.sink()});
    REQUIRE(js.publish("l.x", {}, bytes_of("poison")).has_value());
    REQUIRE(js.publish("l.x", {}, bytes_of("slow")).has_value());
    REQUIRE(eventually([&] { return c.stats().handled == 1 && c.stats().dead_lettered == 1; }));
    std::this_thread::sleep_for(800ms); // past another ack wait: nothing comes back
    CHECK(slow_calls == 1);
    CHECK(progress_ok);
    std::lock_guard l(dl.m);
    REQUIRE(dl.items.size() == 1);
    CHECK(dl.items[0].deliveries == 1);
    CHECK(dl.items[0].kind == bulwark::dead_letter_kind::rejected);
    CHECK(dl.items[0].reason == "cannot parse");
}

TEST_CASE("jetstream consumer: per-key order holds across failures and workers",
          "[nats][jetstream][nats-server]") {
    BULWARK_NEED_NATS(bin);
    bulwark::testing::nats_server server(bin);
    bulwark::nats_transport t(opts_for(server.url()));
    bulwark::jetstream js(t);
    REQUIRE(js.declare_stream({.name = "K", .subjects = {"k.>"}}).has_value());
    constexpr int keys = 4, per_key = 40;
    for (int i = 0; i < per_key; ++i)
        for (int k = 0; k < keys; ++k) {
            bulwark::header_map h = with_id(bulwark::message_id::generate());
            h.set(bulwark::header::partition_key, "key-" + std::to_string(k));
            REQUIRE(js.publish("k.x", h, bytes_of(std::to_string(i))).has_value());
        }
    std::mutex m;
    std::map<std::string, std::vector<int>> seen;
    bulwark::jetstream_consumer c(
        js, {.stream = "K", .durable = "w", .max_deliveries = 5},
        bulwark::message_handler([&](const bulwark::message_view& v) {
            int n = std::stoi(text_of(v.data));
            if (n % 7 == 3 && v.delivery_count == 1)
                return bulwark::settle::nack(5ms); // fails once: must not be overtaken
            std::lock_guard l(m);
            seen[std::string(*v.headers->get("partition-key"))].push_back(n);
            return bulwark::settle::ack();
        }),
        {.workers = 3, .fetch_batch = 16, .per_key_order = true});
    REQUIRE(eventually([&] { return c.stats().handled == keys * per_key; }));
    std::lock_guard l(m);
    REQUIRE(seen.size() == keys);
    std::vector<int> expected(per_key);
    for (int i = 0; i < per_key; ++i)
        expected[static_cast<std::size_t>(i)] = i;
    for (auto& [k, v] : seen) {
        INFO(k);
        CHECK(v == expected);
    }
}

TEST_CASE("jetstream consumer: the dedupe window drops a message id seen before",
          "[nats][jetstream][nats-server]") {
    BULWARK_NEED_NATS(bin);
    bulwark::testing::nats_server server(bin);
    bulwark::nats_transport t(opts_for(server.url()));
    bulwark::jetstream js(t);
    // no duplicate window on the server: a re-publish is stored twice, bulwark drops it
    REQUIRE(js.declare_stream({.name = "U", .subjects = {"u.>"}, .duplicate_window = 100ms})
                .has_value());
    auto id = bulwark::message_id::generate();
    REQUIRE(js.publish("u.x", with_id(id), bytes_of("a")).has_value());
    std::this_thread::sleep_for(300ms); // past the window
    auto again = js.publish("u.x", with_id(id), bytes_of("a"));
    REQUIRE(again.has_value());
    CHECK_FALSE(again->duplicate);
    auto window = std::make_shared<bulwark::dedupe_window<bulwark::message_id>>(1000);
    std::atomic<int> handled{0};
    bulwark::jetstream_consumer c(js, {.stream = "U", .durable = "w"},
                                  bulwark::message_handler([&](const bulwark::message_view&) {
                                      ++handled;
                                      return bulwark::settle::ack();
                                  }),
                                  {.dedupe = window});
    REQUIRE(eventually([&] { return c.stats().duplicates == 1; }));
    CHECK(handled == 1);
    CHECK(window->contains(id));
}

TEST_CASE("jetstream consumer: a long handler is held in progress automatically",
          "[nats][jetstream][nats-server]") {
    BULWARK_NEED_NATS(bin);
    bulwark::testing::nats_server server(bin);
    bulwark::nats_transport t(opts_for(server.url()));
    bulwark::jetstream js(t);
    REQUIRE(js.declare_stream({.name = "P", .subjects = {"p.>"}}).has_value());
    std::atomic<int> calls{0};
    bulwark::jetstream_consumer c(
        js, {.stream = "P", .durable = "w", .ack_wait = 500ms, .max_deliveries = 5},
        bulwark::message_handler([&](const bulwark::message_view&) {
            ++calls;
            std::this_thread::sleep_for(1300ms); // 2.6 x ack_wait, no in_progress call
            return bulwark::settle::ack();
        }),
        {.workers = 2});
    REQUIRE(js.publish("p.x", {}, bytes_of("long")).has_value());
    REQUIRE(eventually([&] { return c.stats().handled == 1; }));
    std::this_thread::sleep_for(700ms); // past another ack wait: nothing comes back
    CHECK(calls == 1);
    CHECK(c.stats().handled == 1);
}
