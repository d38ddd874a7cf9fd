// Events of the synchronous bus (`bus<Topics, Transport, Codec, Listener>`): the exact sequence a
// recording listener hears for a publish to several handlers with one that throws, the counts a
// metrics listener and its Prometheus exposition then hold, the byte front's dead letters, and
// that without a listener the bus is unchanged (no storage).

#include <bulwark/channel/bus.hpp>
#include <bulwark/observe/metrics.hpp>
#include <bulwark/observe/prometheus.hpp>
#include <bulwark/transport/inproc.hpp>

#include "observe/exposition.hpp"

#include <catch2/catch.hpp>

#include <charconv>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

using namespace bulwark;

// Named (not anonymous): clang 14 flags static members of internal types as unused.
namespace observe_bus_test {

struct order_created {
    static constexpr std::string_view subject = "orders.created";
    int n = 0;
};
struct order_paid {
    static constexpr std::string_view subject = "orders.paid";
    int n = 0;
};
using shop = topics<order_created, order_paid>;

/// One heard event: its name and the fields the tests check.
struct heard {
    std::string name;
    std::string subject;
    std::uint32_t delivery = 0;
    std::string kind;
    std::string reason;
    friend bool operator==(const heard&, const heard&) = default;
};

struct bus_log {
    std::mutex mu;
    std::vector<heard> seen;
    std::vector<heard> all() {
        std::lock_guard lock(mu);
        return seen;
    }
    void clear() {
        std::lock_guard lock(mu);
        seen.clear();
    }
};

/// Hears every event (a generic `on`) into a log.
struct recorder {
    bus_log* log;
    template <class E>
    void on(const E& e) {
        heard h{std::string(E::event_name), {}, 0, {}, {}};
        if constexpr (requires { e.subject; })
            h.subject = std::string(e.subject);
        if constexpr (requires { e.delivery; })
            h.delivery = e.delivery;
        if constexpr (requires { e.kind; })
            h.kind = std::string(to_string(e.kind));
        if constexpr (requires { e.reason; })
            h.reason = std::string(e.reason);
        std::lock_guard lock(log->mu);
        log->seen.push_back(std::move(h));
    }
};

heard published(std::string subject = "orders.created") {
    return {"channel_published", std::move(subject), 0, {}, {}};
}
heard delivered(std::string subject = "orders.created", std::uint32_t n = 1) {
    return {"channel_delivered", std::move(subject), n, {}, {}};
}
heard nacked(std::string subject = "orders.created", std::uint32_t n = 1) {
    return {"channel_nacked", std::move(subject), n, {}, {}};
}

int g_audits = 0;
struct audit { // a static subscriber of order_created
    void operator()(const order_created&) const { ++g_audits; }
};

using bulwark::test::samples;

/// A codec for `order_created` over a byte transport: the decimal `n`; anything else is a
/// decode error.
struct decimal_codec {
    using codec_concept = codec_tag;
    static constexpr std::string_view name = "text/x-decimal";
    template <class T>
    void encode(const T& v, std::vector<std::byte>& out) const {
        for (char c : std::to_string(v.n))
            out.push_back(static_cast<std::byte>(c));
    }
    template <class T>
    outcome<T> decode(std::span<const std::byte> in) const {
        std::string s;
        for (auto b : in)
            s.push_back(static_cast<char>(b));
        T v;
        auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v.n);
        if (ec != std::errc{} || end != s.data() + s.size() || s.empty())
            return failure{errc::decode_error,
                           std::make_exception_ptr(std::runtime_error("not a decimal"))};
        return v;
    }
};

} // namespace observe_bus_test
using namespace observe_bus_test;

static_assert(static_cast<int>(dead_letter_kind::malformed) == 3,
              "the metrics count dead letters by kind, malformed last");

TEST_CASE("sync bus events: published, then delivered per handler; a throwing handler is "
          "nacked and ends the publish",
          "[observe][channel][bus]") {
    bus_log log;
    bus<shop, inproc_transport, void, recorder> b{recorder{&log}};
    std::vector<int> ran;
    std::vector<subscription> subs;
    for (int i = 0; i < 4; ++i)
        subs.push_back(b.subscribe<order_created>([&ran, i](const order_created& o) {
            ran.push_back(i);
            if (i == 2 && o.n < 0)
                throw std::runtime_error("negative");
        }));

    CHECK(b.publish(order_created{1}) == 4);
    CHECK(log.all() ==
          std::vector<heard>{published(), delivered(), delivered(), delivered(), delivered()});
    log.clear();
    ran.clear();

    // Handler 2 of 4 throws: delivered 0, 1, 2, then nacked 2; handler 3 never runs and the
    // exception reaches the publisher.
    CHECK_THROWS_AS(b.publish(order_created{-1}), std::runtime_error);
    CHECK(ran == std::vector<int>{0, 1, 2});
    CHECK(log.all() ==
          std::vector<heard>{published(), delivered(), delivered(), delivered(), nacked()});
    log.clear();

    // Envelope handlers, a publish with metadata, another topic's subject, no subscribers.
    auto env = b.subscribe<order_paid>([](const envelope<order_paid>&) {});
    message_metadata md;
    CHECK(b.publish(order_paid{1}, md) == 1);
    CHECK(b.publish(order_paid{2}) == 1);
    env.unsubscribe();
    CHECK(b.publish(order_paid{3}) == 0);
    CHECK(log.all() == std::vector<heard>{published("orders.paid"), delivered("orders.paid"),
                                          published("orders.paid"), delivered("orders.paid"),
                                          published("orders.paid")});
}

TEST_CASE("sync bus events: static subscribers are deliveries too, before the dynamic ones",
          "[observe][channel][bus]") {
    bus_log log;
    g_audits = 0;
    bus<shop, basic_inproc_transport<single_threaded, static_subscribers<audit>>, void, recorder> b{
        recorder{&log}};
    auto s = b.subscribe<order_created>([](const order_created&) {});
    CHECK(b.publish(order_created{1}) == 2);
    CHECK(g_audits == 1);
    CHECK(log.all() == std::vector<heard>{published(), delivered(), delivered()});
}

TEST_CASE("sync bus events: nested publishes are heard in the order they happen",
          "[observe][channel][bus]") {
    bus_log log;
    bus<shop, inproc_transport, void, recorder> b{recorder{&log}};
    auto a = b.subscribe<order_created>([&](const order_created&) { b.publish(order_paid{1}); });
    auto p = b.subscribe<order_paid>([](const order_paid&) {});
    CHECK(b.publish(order_created{1}) == 1);
    CHECK(log.all() == std::vector<heard>{published(), delivered(), published("orders.paid"),
                                          delivered("orders.paid")});
}

TEST_CASE("sync bus events: a metrics listener and its Prometheus exposition hold the known "
          "counts",
          "[observe][channel][bus][prometheus]") {
    metrics_registry reg;
    auto ml = reg.listener({.topic = "orders.created"});
    bus<shop, inproc_transport, void, metrics_listener> b{ml};
    std::vector<subscription> subs;
    for (int i = 0; i < 4; ++i)
        subs.push_back(b.subscribe<order_created>([i](const order_created& o) {
            if (i == 2 && o.n < 0)
                throw std::runtime_error("negative");
        }));
    for (int i = 0; i < 5; ++i)
        CHECK(b.publish(order_created{i}) == 4);
    CHECK_THROWS_AS(b.publish(order_created{-1}), std::runtime_error);
    subs[0].unsubscribe();
    CHECK(b.publish(order_created{9}) == 3);

    const auto s = ml.snapshot().channel;
    CHECK(s.published == 7);
    CHECK(s.delivered == 5 * 4 + 3 + 3); // 4 per good publish, 3 until the throw, then 3 left
    CHECK(s.nacked == 1);
    CHECK(s.dead_lettered == std::array<std::uint64_t, 4>{});
    CHECK(s.redelivered == 0);
    CHECK(s.dropped == 0);

    auto m = samples(to_prometheus(reg));
    const std::string l = "{topic=\"orders.created\"}";
    CHECK(m["bulwark_channel_published_total" + l] == "7");
    CHECK(m["bulwark_channel_delivered_total" + l] == "26");
    CHECK(m["bulwark_channel_nacked_total" + l] == "1");
    CHECK(m["bulwark_channel_dead_lettered_total{topic=\"orders.created\",reason=\"failed\"}"] ==
          "0");
}

TEST_CASE("byte bus events: published once accepted; delivered, nacked and dead-lettered on "
          "the receiving side; malformed messages are dead-lettered undelivered",
          "[observe][channel][bus]") {
    bus_log log;
    metrics_registry reg;
    auto ml = reg.listener({.topic = "orders.created"});
    using heard_by = listeners<recorder, metrics_listener>;
    inproc_transport t;
    bus<topics<order_created>, inproc_transport, decimal_codec, heard_by> b(
        t, heard_by{recorder{&log}, ml});
    int handled = 0;
    auto s = b.subscribe<order_created>([&](const order_created& o) {
        ++handled;
        if (o.n < 0)
            throw std::runtime_error("negative");
    });
    REQUIRE(b.publish(order_created{5}));
    // Delivery is synchronous on the in-process transport: the handler ran inside publish, and
    // the publish is reported once the transport accepted it.
    CHECK(log.all() == std::vector<heard>{delivered(), published()});
    log.clear();

    REQUIRE(b.publish(order_created{-5}));
    CHECK(log.all() == std::vector<heard>{delivered(),
                                          nacked(),
                                          {"channel_dead_lettered", "orders.created", 0, "failed",
                                           "handler threw: negative"},
                                          published()});
    log.clear();

    // Bytes the codec cannot read, with valid metadata headers: dead-lettered as malformed, the
    // handler never called.
    message_metadata md;
    stamp(md);
    header_map h;
    to_headers(md, h);
    const std::string junk = "not-a-number";
    std::vector<std::byte> body;
    for (char c : junk)
        body.push_back(static_cast<std::byte>(c));
    REQUIRE(t.publish("orders.created", h, body));
    REQUIRE(log.all().size() == 1);
    CHECK(log.all()[0].name == "channel_dead_lettered");
    CHECK(log.all()[0].kind == "malformed");
    CHECK(log.all()[0].subject == "orders.created");
    CHECK(b.malformed_count() == 1);
    CHECK(handled == 2);

    const auto c = ml.snapshot().channel;
    CHECK(c.published == 2);
    CHECK(c.delivered == 2);
    CHECK(c.nacked == 1);
    CHECK(c.dead_lettered[static_cast<std::size_t>(dead_letter_kind::failed)] == 1);
    CHECK(c.dead_lettered[static_cast<std::size_t>(dead_letter_kind::malformed)] == 1);
    auto m = samples(to_prometheus(reg));
    CHECK(m["bulwark_channel_dead_lettered_total{topic=\"orders.created\",reason=\"failed\"}"] ==
          "1");
    CHECK(m["bulwark_channel_dead_lettered_total{topic=\"orders.created\",reason=\"malformed\"}"] ==
          "1");
}

TEST_CASE("sync bus events: without a listener the bus is the same type and takes no storage",
          "[observe][channel][bus]") {
    STATIC_REQUIRE(std::is_same_v<bus<shop>::listener_type, null_listener>);
    STATIC_REQUIRE(std::is_same_v<bus<shop>, bus<shop, inproc_transport, void, null_listener>>);
    // The typed front is its delivery state's handle and the clock: null_listener adds nothing.
    STATIC_REQUIRE(sizeof(bus<shop>) == sizeof(std::shared_ptr<int>) + sizeof(any_clock));
    STATIC_REQUIRE(sizeof(bus<shop, single_threaded>) ==
                   sizeof(std::shared_ptr<int>) + sizeof(any_clock));
    STATIC_REQUIRE(sizeof(bus<shop, inproc_transport, void, metrics_listener>) > sizeof(bus<shop>));
    STATIC_REQUIRE(
        sizeof(bus<topics<order_created>, inproc_transport, decimal_codec>) ==
        sizeof(bus<topics<order_created>, inproc_transport, decimal_codec, null_listener>));
    // `(t, {})` still means the options (the listener constructors are not offered for
    // null_listener).
    inproc_transport t;
    bus<topics<order_created>, inproc_transport, decimal_codec> bytes(t, {});
    CHECK(bytes.publish(order_created{1}));
}
