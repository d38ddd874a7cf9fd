// Events of the synchronous bus (`bus<Topics, Transport, Codec, Listener>`): the exact sequence a
// recording listener hears for a publish to several handlers with one that throws, the counts a
// metrics listener and its Prometheus exposition then hold, the byte front's dead letters, the
// same events for request/reply (in process and over a byte transport), and that without a
// listener the bus is unchanged (no storage, responders called as before).

#include <bulwark/channel/bus.hpp>
#include <bulwark/observe/metrics.hpp>
#include <bulwark/observe/prometheus.hpp>
#include <bulwark/testing/manual_clock.hpp>
#include <bulwark/transport/inproc.hpp>

#include "observe/exposition.hpp"

#include <catch2/catch.hpp>

#include <charconv>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
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

struct quote {
    int n = 0;
};
struct price_asked { // a request that declares its reply
    static constexpr std::string_view subject = "prices.asked";
    using reply_type = quote;
    int n = 0;
};
struct lookup { // a request whose reply each request names
    static constexpr std::string_view subject = "lookups";
    int n = 0;
};
using desk = topics<price_asked, lookup>;

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

/// Hears every event and notes the thread it was heard on.
struct thread_recorder {
    std::vector<std::thread::id>* threads;
    template <class E>
    void on(const E&) {
        threads->push_back(std::this_thread::get_id());
    }
};

/// Hears `channel_published` only: a request heard by it calls its responders as an unheard one.
struct publish_counter {
    int* published;
    void on(const events::channel_published&) { ++*published; }
};

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

TEST_CASE("sync bus request events: published as the request starts, delivered just before the "
          "responder runs, all on the requesting thread",
          "[observe][channel][bus][request]") {
    bus_log log;
    std::vector<std::thread::id> threads;
    using heard_by = listeners<recorder, thread_recorder>;
    bus<desk, inproc_transport, void, heard_by> b{
        heard_by{recorder{&log}, thread_recorder{&threads}}};
    std::vector<heard> at_responder;
    std::thread::id responder_thread;
    auto r = b.respond<price_asked>([&](const price_asked& q) {
        at_responder = log.all();
        responder_thread = std::this_thread::get_id();
        return quote{q.n * 2};
    });

    auto reply = b.request(price_asked{21});
    REQUIRE(reply.has_value());
    CHECK(reply->n == 42);
    const std::vector<heard> expected{published("prices.asked"), delivered("prices.asked")};
    CHECK(at_responder == expected); // both heard before the responder ran
    CHECK(log.all() == expected);    // and nothing after it
    CHECK(responder_thread == std::this_thread::get_id());
    CHECK(threads == std::vector<std::thread::id>(2, std::this_thread::get_id()));

    // With metadata and a relative timeout: the same events.
    log.clear();
    message_metadata md;
    md.headers.set("tenant", "t-1");
    CHECK(b.request(price_asked{1}, no_deadline, md)->n == 2);
    CHECK(b.request(price_asked{2}, std::chrono::hours(1))->n == 4);
    CHECK(log.all() == std::vector<heard>{published("prices.asked"), delivered("prices.asked"),
                                          published("prices.asked"), delivered("prices.asked")});
}

TEST_CASE("sync bus request events: a throwing responder is nacked and its exception is the "
          "reply; a failed reply is not a nack",
          "[observe][channel][bus][request]") {
    bus_log log;
    metrics_registry reg;
    auto ml = reg.listener({.topic = "desk"});
    using heard_by = listeners<recorder, metrics_listener>;
    bus<desk, inproc_transport, void, heard_by> b{heard_by{recorder{&log}, ml}};
    auto r = b.respond<price_asked>([](const price_asked& q) {
        if (q.n < 0)
            throw std::runtime_error("negative");
        return quote{q.n};
    });
    auto l =
        b.respond<lookup>([](const lookup&) -> outcome<int> { return errc::invalid_argument; });

    auto thrown = b.request(price_asked{-1});
    REQUIRE(thrown.has_failure());
    CHECK(thrown.code() == errc::exception);
    CHECK(thrown.error().holds<std::runtime_error>());
    CHECK(log.all() == std::vector<heard>{published("prices.asked"), delivered("prices.asked"),
                                          nacked("prices.asked")});
    log.clear();

    // A responder that answers with a failure replied: delivered, not nacked.
    auto failed = b.request<lookup, int>(lookup{1});
    CHECK(failed.code() == errc::invalid_argument);
    CHECK(log.all() == std::vector<heard>{published("lookups"), delivered("lookups")});

    const auto c = ml.snapshot().channel;
    CHECK(c.published == 2);
    CHECK(c.delivered == 2);
    CHECK(c.nacked == 1);
    CHECK(c.dead_lettered == std::array<std::uint64_t, 4>{}); // the in-process bus has none
}

TEST_CASE("sync bus request events: each responder asked is a delivery; a declining one is "
          "followed by the next, one of another reply type is not asked",
          "[observe][channel][bus][request]") {
    bus_log log;
    bus<desk, inproc_transport, void, recorder> b{recorder{&log}};
    int declined = 0, answered = 0, never = 0;
    auto first = b.respond<price_asked>([&](const price_asked&) -> std::optional<quote> {
        ++declined;
        return std::nullopt;
    });
    auto second = b.respond<price_asked>([&](const price_asked& q) {
        ++answered;
        return quote{q.n + 1};
    });
    auto third = b.respond<price_asked>([&](const price_asked& q) {
        ++never;
        return quote{q.n};
    });
    CHECK(b.request(price_asked{1})->n == 2);
    CHECK((declined == 1 && answered == 1 && never == 0));
    CHECK(log.all() == std::vector<heard>{published("prices.asked"), delivered("prices.asked"),
                                          delivered("prices.asked")});
    log.clear();

    // `request<lookup, int>`: the responder replying a string is skipped unheard.
    int strings = 0;
    auto text = b.respond<lookup>([&](const lookup&) {
        ++strings;
        return std::string("seven");
    });
    auto number = b.respond<lookup>([](const lookup& q) { return q.n * 7; });
    CHECK(b.request<lookup, int>(lookup{1}).value() == 7);
    CHECK(strings == 0);
    CHECK(log.all() == std::vector<heard>{published("lookups"), delivered("lookups")});
}

TEST_CASE("sync bus request events: no responders and a passed deadline are published only; a "
          "late reply was still delivered",
          "[observe][channel][bus][request]") {
    bus_log log;
    manual_clock manual;
    bus<desk, inproc_transport, void, recorder> b{recorder{&log}, {.clock = manual}};

    CHECK(b.request(price_asked{1}).code() == errc::no_responders);
    CHECK(log.all() == std::vector<heard>{published("prices.asked")});
    log.clear();

    int ran = 0;
    auto slow = b.respond<price_asked>([&](const price_asked& q) {
        ++ran;
        manual.advance(std::chrono::seconds(1)); // past the caller's deadline
        return quote{q.n};
    });
    // The deadline passed before any responder was asked: none runs.
    CHECK(b.request(price_asked{1}, manual.now()).code() == errc::timeout);
    CHECK(ran == 0);
    CHECK(log.all() == std::vector<heard>{published("prices.asked")});
    log.clear();

    // The responder ran but replied too late: its delivery happened, the reply is dropped.
    CHECK(b.request(price_asked{1}, std::chrono::milliseconds(10)).code() == errc::timeout);
    CHECK(ran == 1);
    CHECK(log.all() == std::vector<heard>{published("prices.asked"), delivered("prices.asked")});
}

TEST_CASE("byte bus request events: the responder's delivery and nack on its side, the request "
          "published once it went out; a refused request is not published",
          "[observe][channel][bus][request]") {
    bus_log log;
    inproc_transport t;
    bus<topics<price_asked>, inproc_transport, decimal_codec, recorder> b(t, recorder{&log});
    auto r = b.respond<price_asked>([](const price_asked& q) {
        if (q.n < 0)
            throw std::runtime_error("negative");
        return quote{q.n * 2};
    });

    // The in-process transport runs the responder inside the request: its delivery is heard
    // first, then the request's publish (reported once the transport returned, as a publish).
    auto reply = b.request(price_asked{4});
    REQUIRE(reply.has_value());
    CHECK(reply->n == 8);
    CHECK(log.all() == std::vector<heard>{delivered("prices.asked"), published("prices.asked")});
    log.clear();

    // A throwing responder: nacked, its failure is the reply; no dead letter.
    auto thrown = b.request(price_asked{-4});
    CHECK(thrown.code() == errc::exception);
    CHECK(log.all() == std::vector<heard>{delivered("prices.asked"), nacked("prices.asked"),
                                          published("prices.asked")});
    log.clear();

    // Nobody listening: the request went out (published), unanswered.
    r.unsubscribe();
    CHECK(b.request(price_asked{1}).code() == errc::no_responders);
    CHECK(log.all() == std::vector<heard>{published("prices.asked")});
    log.clear();

    // A transport that refuses the request: not published.
    t.drain();
    CHECK(b.request(price_asked{1}).code() == errc::channel_closed);
    CHECK(log.all().empty());
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
    // Responders are called through the listener-free entry unless the listener hears a
    // per-call event.
    STATIC_REQUIRE(!detail::hears_responder_calls<null_listener>);
    STATIC_REQUIRE(!detail::hears_responder_calls<publish_counter>);
    STATIC_REQUIRE(detail::hears_responder_calls<recorder>);
    STATIC_REQUIRE(detail::hears_responder_calls<metrics_listener>);
    STATIC_REQUIRE(sizeof(bus<desk>) == sizeof(std::shared_ptr<int>) + sizeof(any_clock));
    bus<desk> plain;
    auto r = plain.respond<price_asked>([](const price_asked& q) { return quote{q.n}; });
    CHECK(plain.request(price_asked{3})->n == 3);
    int published_n = 0;
    bus<desk, inproc_transport, void, publish_counter> counted{publish_counter{&published_n}};
    auto rc = counted.respond<price_asked>([](const price_asked& q) { return quote{q.n}; });
    CHECK(counted.request(price_asked{3})->n == 3);
    CHECK(counted.request<lookup, int>(lookup{1}).code() == errc::no_responders);
    CHECK(published_n == 2);
    // `(t, {})` still means the options (the listener constructors are not offered for
    // null_listener).
    inproc_transport t;
    bus<topics<order_created>, inproc_transport, decimal_codec> bytes(t, {});
    CHECK(bytes.publish(order_created{1}));
}
