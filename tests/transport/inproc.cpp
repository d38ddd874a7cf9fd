// The in-process transport: the transport laws on its byte face, the typed front laws over
// `bus<Topics, inproc_transport, Codec>` with a tiny text codec, and the facts of its typed face.
#include <bulwark/channel/bus.hpp>
#include <bulwark/channel/cqrs.hpp>
#include <bulwark/core/time.hpp>
#include <bulwark/transport/inproc.hpp>

#include "support/transport_laws.hpp"

#include <catch2/catch.hpp>

#include <charconv>
#include <thread>

namespace {

using bulwark::laws::law_ping;
using bulwark::laws::law_pong;

/// A tiny test codec for the law messages: "<n>|<text>". Anything else is a decode error.
struct text_codec {
    using codec_concept = bulwark::codec_tag;
    static constexpr std::string_view name = "text/x-law";

    template <class T>
    void encode(const T& v, std::vector<std::byte>& out) const {
        std::string s = std::to_string(v.n) + "|" + v.text;
        auto b = bulwark::laws::bytes_of(s);
        out.insert(out.end(), b.begin(), b.end());
    }
    template <class T>
    bulwark::outcome<T> decode(std::span<const std::byte> in) const {
        auto s = bulwark::laws::text_of(in);
        auto bar = s.find('|');
        T v;
        if (bar == std::string::npos)
            return bulwark::failure{
                bulwark::errc::decode_error,
                std::make_exception_ptr(std::runtime_error("text_codec: no '|' in the body"))};
        auto [end, ec] = std::from_chars(s.data(), s.data() + bar, v.n);
        if (ec != std::errc{} || end != s.data() + bar)
            return bulwark::failure{
                bulwark::errc::decode_error,
                std::make_exception_ptr(std::runtime_error("text_codec: n is not an integer"))};
        v.text = s.substr(bar + 1);
        return v;
    }
};
static_assert(bulwark::codec<text_codec, law_ping> && bulwark::codec<text_codec, law_pong>);

struct inproc_factory {
    using transport = bulwark::inproc_transport;
    std::unique_ptr<transport> make() { return std::make_unique<transport>(); }
    std::string why_missing() const { return "never missing"; }
    void flush(transport&) {}
    bulwark::time_point deadline(transport& t, bulwark::duration d) {
        return bulwark::saturating_add(t.clock().now(), d);
    }
};

} // namespace

static_assert(std::is_same_v<bulwark::bus<bulwark::laws::law_topics>,
                             bulwark::bus<bulwark::laws::law_topics, bulwark::inproc_transport>>);
static_assert(bulwark::message_transport<bulwark::inproc_transport>);
static_assert(bulwark::typed_transport<bulwark::inproc_transport>);
static_assert(!bulwark::message_transport<int>);

TEST_CASE("inproc: transport laws", "[transport][inproc]") {
    bulwark::laws::transport_laws(inproc_factory{});
}

TEST_CASE("inproc: typed front laws over the byte face", "[transport][inproc]") {
    bulwark::laws::typed_front_laws<text_codec>(inproc_factory{});
}

TEST_CASE("inproc: command_bus and query_bus over the byte face", "[transport][inproc][cqrs]") {
    using bulwark::laws::law_topics;
    bulwark::inproc_transport t;
    bulwark::query_bus<law_topics, bulwark::inproc_transport, text_codec> queries(t);
    static_assert(!std::is_same_v<decltype(queries)::bus_type, bulwark::bus<law_topics>>,
                  "the byte front, not the typed one");
    // No handler yet: the transport reports no responders.
    CHECK(queries.ask(law_ping{"x", 1}).error().code == bulwark::errc::no_responders);

    auto h = queries.handle<law_ping>([](const law_ping& q) {
        return law_pong{q.text + "!", q.n * 2};
    });
    CHECK(queries.has_handler<law_ping>());
    auto r = queries.ask(law_ping{"hi", 21});
    REQUIRE(r.has_value());
    CHECK(*r == law_pong{"hi!", 42});
    // One handler per type, on this bus object.
    CHECK_THROWS_AS(queries.handle<law_ping>([](const law_ping&) { return law_pong{}; }),
                    bulwark::invalid_argument_error);

    bulwark::command_bus<law_topics, bulwark::inproc_transport, text_codec> commands(t);
    int handled = 0;
    std::string seen;
    auto c = commands.handle<law_pong>([&](const law_pong& p) {
        ++handled;
        seen = p.text;
    });
    bulwark::outcome<void> done = commands.send(law_pong{"go", 3});
    CHECK(done.has_value());
    CHECK(handled == 1);
    CHECK(seen == "go");
    // A handler failure comes back as the command's error.
    bulwark::command_bus<law_topics, bulwark::inproc_transport, text_codec> failing(t);
    c.unsubscribe();
    auto f = failing.handle<law_pong>([](const law_pong&) { throw std::runtime_error("no"); });
    CHECK_FALSE(failing.send(law_pong{"go", 4}).has_value());
    CHECK(handled == 1);
}

TEST_CASE("inproc: typed front laws over the typed face", "[transport][inproc]") {
    bulwark::bus<bulwark::laws::law_topics> bus;
    int got = 0;
    auto sub = bus.subscribe<law_pong>([&](const law_pong& p) { got += p.n; });
    CHECK(bus.publish(law_pong{"a", 2}) == 1);
    CHECK(got == 2);
    CHECK(bus.request<law_ping>(law_ping{"x", 1}).code() == bulwark::errc::no_responders);
    auto r = bus.respond<law_ping>([](const law_ping& p) { return law_pong{p.text, p.n * 10}; });
    auto reply = bus.request<law_ping>(law_ping{"x", 4});
    REQUIRE(reply);
    CHECK(reply->n == 40);
}

TEST_CASE("inproc: request timeout on the manual clock", "[transport][inproc]") {
    using namespace std::chrono_literals;
    bulwark::manual_clock clock; // a synchronous sleep advances the manual time itself
    bulwark::inproc_transport t{{.clock = clock}};
    std::string reply_to;
    auto silent = t.subscribe("svc.slow", {}, [&](const bulwark::message_view& v) {
        reply_to = std::string(v.reply_to);
        return bulwark::settle::ack();
    });
    auto out = t.request("svc.slow", {}, {}, bulwark::saturating_add(clock.now(), 5s));
    REQUIRE(!out);
    CHECK(out.code() == bulwark::errc::timeout);
    CHECK(clock.sleeps() == std::vector<bulwark::duration>{5s});
    CHECK(reply_to.rfind("_INBOX.", 0) == 0);
}

TEST_CASE("inproc: a reply from another thread ends the wait", "[transport][inproc][concurrency]") {
    using namespace std::chrono_literals;
    bulwark::manual_clock clock;
    clock.auto_advance(false); // the requester waits until the reply (or an advance)
    bulwark::inproc_transport t{{.clock = clock}};
    std::string reply_to;
    std::atomic<bool> asked{false};
    auto later = t.subscribe("svc.later", {}, [&](const bulwark::message_view& v) {
        reply_to = std::string(v.reply_to);
        asked.store(true);
        return bulwark::settle::ack();
    });
    bulwark::outcome<bulwark::received_message> out = bulwark::errc::exception;
    std::thread requester(
        [&] { out = t.request("svc.later", {}, {}, bulwark::saturating_add(clock.now(), 5s)); });
    while (clock.sleeps().empty()) // the requester provably waits
        std::this_thread::yield();
    REQUIRE(asked.load());
    REQUIRE(t.publish(reply_to, {}, bulwark::laws::bytes_of("late but in time")));
    requester.join();
    REQUIRE(out);
    CHECK(bulwark::laws::text_of(out->data) == "late but in time");
}

TEST_CASE("inproc: invalid subjects and publish after drain", "[transport][inproc]") {
    bulwark::inproc_transport t;
    CHECK(t.publish("a.*", {}, {}).code() == bulwark::errc::invalid_subject);
    CHECK(t.publish("a.\xff", {}, {}).code() == bulwark::errc::invalid_subject);
    CHECK_THROWS_AS(
        t.subscribe("a.>.b", {},
                    [](const bulwark::message_view&) { return bulwark::settle::ack(); }),
        bulwark::invalid_subject_error);
    t.drain();
    CHECK(t.publish("a.b", {}, {}).code() == bulwark::errc::channel_closed);
}
