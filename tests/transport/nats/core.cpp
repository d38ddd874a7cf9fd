// nats_transport over core NATS, against a real nats-server on 127.0.0.1.
#include "support/nats_server.hpp"

#include <bulwark/detail/validate.hpp>
#include <bulwark/transport/nats.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
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

/// Collects strings from handler threads; waits for a count (a generous bound stops hangs only).
struct inbox {
    std::mutex m;
    std::condition_variable cv;
    std::vector<std::string> items;
    void add(std::string s) {
        {
            std::lock_guard l(m);
            items.push_back(std::move(s));
        }
        cv.notify_all();
    }
    bool wait_for(std::size_t n, std::chrono::seconds bound = 10s) {
        std::unique_lock l(m);
        return cv.wait_for(l, bound, [&] { return items.size() >= n; });
    }
    std::vector<std::string> snapshot() {
        std::lock_guard l(m);
        return items;
    }
};

bulwark::nats_options opts_for(const std::string& url) {
    bulwark::nats_options o;
    o.servers = {url};
    o.name = "bulwark-test";
    o.reconnect_wait = 100ms;
    o.max_reconnects = -1;
    return o;
}

} // namespace

TEST_CASE("nats_options: bad settings are rejected with the setting named", "[nats][options]") {
    bulwark::nats_options o;
    o.connect_timeout = 0ms;
    CHECK_THROWS_WITH(
        o.validate(),
        Catch::StartsWith("bulwark::nats_transport: connect_timeout must be >= 1ms (got 0ms)"));
    o = {};
    o.servers.clear();
    CHECK_THROWS_AS(o.validate(), bulwark::invalid_argument_error);
    o = {};
    o.max_reconnects = -2;
    CHECK_THROWS_WITH(o.validate(),
                      Catch::StartsWith("bulwark::nats_transport: max_reconnects must "
                                        "be >= -1 (-1 = forever) (got -2)"));
    o = {};
    o.reconnect_wait = -1ms;
    CHECK_THROWS_AS(bulwark::nats_transport(o), bulwark::invalid_argument_error);
}

TEST_CASE("nats_transport: no server is a clear transport_error", "[nats][nats-server]") {
    bulwark::nats_options o;
    o.servers = {"nats://127.0.0.1:" + std::to_string(bulwark::testing::free_port())};
    o.connect_timeout = 500ms;
    try {
        bulwark::nats_transport t(o);
        FAIL("connected to nothing");
    } catch (const bulwark::resilience_error& e) {
        CHECK(e.kind() == bulwark::errc::transport_error);
        CHECK_THAT(e.what(), Catch::Contains("cannot connect to [nats://127.0.0.1:"));
    }
}

TEST_CASE("nats_transport: publish/subscribe with headers, connection events",
          "[nats][nats-server]") {
    BULWARK_NEED_NATS(bin);
    bulwark::testing::nats_server server(bin);
    inbox events;
    auto o = opts_for(server.url());
    o.listener = [&](const bulwark::nats_event& e) {
        events.add(std::to_string(static_cast<int>(e.kind)) + " " + std::string(e.url));
    };
    {
        bulwark::nats_transport t(o);
        REQUIRE(events.wait_for(1));
        CHECK(events.snapshot()[0] == "0 " + server.url());
        CHECK(t.connected());

        inbox got;
        auto sub = t.subscribe("orders.created", {}, [&](const bulwark::message_view& m) {
            got.add(std::string(m.subject) + "|" +
                    std::string(m.headers->get("trace").value_or("-")) + "|" +
                    std::string(m.headers->get("correlation-id").value_or("-")) + "|" +
                    text_of(m.data) + "|" + std::to_string(m.delivery_count) +
                    (m.reply_to.empty() ? "" : "|reply")); // asserted on the test thread
            return bulwark::settle::ack();
        });
        REQUIRE(t.flush().has_value());
        bulwark::header_map h;
        h.set("trace", "t-1");
        h.set("correlation-id", "c-9");
        REQUIRE(t.publish("orders.created", h, bytes_of("hello")).has_value());
        REQUIRE(t.publish("orders.created", {}, bytes_of("")).has_value());
        REQUIRE(got.wait_for(2));
        CHECK(got.snapshot() ==
              std::vector<std::string>{"orders.created|t-1|c-9|hello|1", "orders.created|-|-||1"});
        CHECK(sub.unsubscribe());
        CHECK_FALSE(sub.unsubscribe());
    }
    // destroyed: drained and closed
    REQUIRE(events.wait_for(2));
    CHECK(events.snapshot().back().rfind("3", 0) == 0); // closed
}

TEST_CASE("nats_transport: wildcards * and >", "[nats][nats-server]") {
    BULWARK_NEED_NATS(bin);
    bulwark::testing::nats_server server(bin);
    bulwark::nats_transport t(opts_for(server.url()));
    inbox star, tail;
    auto s1 = t.subscribe("orders.*", {}, [&](const bulwark::message_view& m) {
        star.add(std::string(m.subject));
        return bulwark::settle::ack();
    });
    auto s2 = t.subscribe("orders.>", {}, [&](const bulwark::message_view& m) {
        tail.add(std::string(m.subject));
        return bulwark::settle::ack();
    });
    REQUIRE(t.flush().has_value());
    for (auto s : {"orders.created", "orders.eu.paid", "orders", "payments.created"})
        REQUIRE(t.publish(s, {}, bytes_of("x")).has_value());
    REQUIRE(t.publish("orders.last", {}, bytes_of("x")).has_value());
    REQUIRE(star.wait_for(2));
    REQUIRE(tail.wait_for(3));
    CHECK(star.snapshot() == std::vector<std::string>{"orders.created", "orders.last"});
    CHECK(tail.snapshot() ==
          std::vector<std::string>{"orders.created", "orders.eu.paid", "orders.last"});
    // a subscription that cannot exist is an error, never a silent no-op
    CHECK_THROWS_AS(
        t.subscribe("", {}, [](const bulwark::message_view&) { return bulwark::settle::ack(); }),
        bulwark::resilience_error);
}

TEST_CASE("nats_transport: a queue group spreads messages, each to one member",
          "[nats][nats-server]") {
    BULWARK_NEED_NATS(bin);
    bulwark::testing::nats_server server(bin);
    bulwark::nats_transport a(opts_for(server.url())), b(opts_for(server.url()));
    bulwark::nats_transport pub(opts_for(server.url()));
    inbox all;
    std::atomic<int> na{0}, nb{0}, plain{0};
    auto make = [&](std::atomic<int>& n) {
        return [&](const bulwark::message_view& m) {
            ++n;
            all.add(text_of(m.data));
            return bulwark::settle::ack();
        };
    };
    auto sa = a.subscribe("jobs", "workers", make(na));
    auto sb = b.subscribe("jobs", "workers", make(nb));
    auto sp = a.subscribe("jobs", {}, [&](const bulwark::message_view&) {
        ++plain; // a plain subscriber still gets every message
        return bulwark::settle::ack();
    });
    REQUIRE(a.flush().has_value());
    REQUIRE(b.flush().has_value());
    constexpr int n = 400;
    for (int i = 0; i < n; ++i)
        REQUIRE(pub.publish("jobs", {}, bytes_of(std::to_string(i))).has_value());
    REQUIRE(pub.flush().has_value());
    REQUIRE(all.wait_for(n));
    auto items = all.snapshot();
    std::set<std::string> distinct(items.begin(), items.end());
    CHECK(items.size() == static_cast<std::size_t>(n)); // each message to exactly one member
    CHECK(distinct.size() == static_cast<std::size_t>(n));
    CHECK(na + nb == n);
    CHECK(na > 0); // spread: both members got some
    CHECK(nb > 0);
    a.flush().value();
    for (int i = 0; i < 500 && plain < n; ++i)
        std::this_thread::sleep_for(10ms);
    CHECK(plain == n);
}

TEST_CASE("nats_transport: request/reply, no responders, timeout", "[nats][nats-server]") {
    BULWARK_NEED_NATS(bin);
    bulwark::testing::nats_server server(bin);
    bulwark::nats_transport t(opts_for(server.url()));
    auto responder = t.subscribe("echo", {}, [&](const bulwark::message_view& m) {
        if (m.reply_to.empty()) // a request always has one; the test thread checks the reply
            return bulwark::settle::ack();
        bulwark::header_map h;
        h.set("echoed-trace", m.headers->get("trace").value_or("none"));
        std::string body = "re:" + text_of(m.data);
        (void)t.publish(m.reply_to, h, bytes_of(body));
        return bulwark::settle::ack();
    });
    auto silent = t.subscribe("silent", {}, [](const bulwark::message_view&) {
        return bulwark::settle::ack(); // never replies
    });
    REQUIRE(t.flush().has_value());

    bulwark::header_map h;
    h.set("trace", "abc");
    auto r = t.request("echo", h, bytes_of("ping"), std::chrono::steady_clock::now() + 5s);
    REQUIRE(r.has_value());
    CHECK(text_of(r->data) == "re:ping");
    CHECK(r->headers.get("echoed-trace") == "abc");

    auto r2 = t.request("echo", {}, bytes_of("x"), std::chrono::steady_clock::now() + 5s);
    REQUIRE(r2.has_value());
    CHECK(r2->headers.get("echoed-trace") == "none");

    // nobody listens: no_responders at once (well before the 30 s deadline; the deadline only
    // bounds a hang, we do not time it)
    auto none = t.request("nobody.home", {}, bytes_of("x"), std::chrono::steady_clock::now() + 30s);
    REQUIRE(none.has_failure());
    CHECK(none.code() == bulwark::errc::no_responders);

    auto slow = t.request("silent", {}, bytes_of("x"), std::chrono::steady_clock::now() + 200ms);
    REQUIRE(slow.has_failure());
    CHECK(slow.code() == bulwark::errc::timeout);

    auto passed = t.request("echo", {}, bytes_of("x"), std::chrono::steady_clock::now() - 1s);
    REQUIRE(passed.has_failure());
    CHECK(passed.code() == bulwark::errc::timeout);
}

TEST_CASE("nats_transport: drain delivers what was published, then refuses",
          "[nats][nats-server]") {
    BULWARK_NEED_NATS(bin);
    bulwark::testing::nats_server server(bin);
    bulwark::nats_transport sub_side(opts_for(server.url()));
    bulwark::nats_transport pub_side(opts_for(server.url()));
    std::atomic<int> got{0};
    auto sub = sub_side.subscribe("d", {}, [&](const bulwark::message_view&) {
        std::this_thread::sleep_for(1ms); // a slow handler: messages queue up
        ++got;
        return bulwark::settle::ack();
    });
    REQUIRE(sub_side.flush().has_value());
    for (int i = 0; i < 200; ++i)
        REQUIRE(pub_side.publish("d", {}, bytes_of("x")).has_value());
    pub_side.drain(); // flushes its publishes before closing
    auto after = pub_side.publish("d", {}, bytes_of("x"));
    REQUIRE(after.has_failure());
    CHECK(after.code() == bulwark::errc::channel_closed);
    // the subscriber side drains too: every message that reached it is handled first
    for (int i = 0; i < 1000 && got < 200; ++i)
        std::this_thread::sleep_for(5ms);
    sub_side.drain();
    CHECK(got == 200);
}
